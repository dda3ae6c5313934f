package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemPromptMemory: the system prompt holds the group's memory and the global memory
// once each, for main and for other groups, labelled with who may change each; a group
// memory that is a copy of the global one (what older versions made) is included once; a
// missing or blank file is left out.
func TestSystemPromptMemory(t *testing.T) {
	const (
		groupText  = "# Claw\n\nGROUP-NOTES: the family likes tea."
		globalText = "# Global memory\n\nGLOBAL-NOTES: the owner is Ada."
	)
	const (
		groupHead       = "# Group memory ("
		globalHead      = "# Global memory ("
		readOnlyGlobal  = "read-only here, only the main group can change it"
		writableGlobal  = "you keep it, so you may edit it"
		mainGroupLabel  = "the main group's own"
		otherGroupLabel = "this group's own"
		copyNote        = "same text as the global memory below"
	)
	cases := []struct {
		name          string
		isMain        bool
		group, global *string // nil: no file
		// how often each string is in the prompt
		count map[string]int
	}{
		{name: "other group: both, global read-only", group: memText(groupText), global: memText(globalText),
			count: map[string]int{"GROUP-NOTES": 1, "GLOBAL-NOTES": 1, groupHead: 1, globalHead: 1, readOnlyGlobal: 1, writableGlobal: 0, otherGroupLabel: 1, copyNote: 0}},
		{name: "main: both, global its own to edit", isMain: true, group: memText(groupText), global: memText(globalText),
			count: map[string]int{"GROUP-NOTES": 1, "GLOBAL-NOTES": 1, groupHead: 1, globalHead: 1, readOnlyGlobal: 0, writableGlobal: 1, mainGroupLabel: 1, copyNote: 0}},
		{name: "other group whose memory is a copy of the global memory", group: memText(globalText + "\n\n"), global: memText(globalText),
			count: map[string]int{"GLOBAL-NOTES": 1, groupHead: 1, globalHead: 1, copyNote: 1}},
		{name: "main whose memory is a copy of the global memory", isMain: true, group: memText(globalText), global: memText("\n" + globalText),
			count: map[string]int{"GLOBAL-NOTES": 1, groupHead: 1, globalHead: 1, copyNote: 1, writableGlobal: 1}},
		{name: "no group memory", global: memText(globalText),
			count: map[string]int{"GLOBAL-NOTES": 1, groupHead: 0, globalHead: 1}},
		{name: "no global memory", isMain: true, group: memText(groupText),
			count: map[string]int{"GROUP-NOTES": 1, groupHead: 1, globalHead: 0}},
		{name: "blank group memory beside the global", group: memText(" \n\n"), global: memText(globalText),
			count: map[string]int{"GLOBAL-NOTES": 1, groupHead: 0, globalHead: 1, copyNote: 0}},
		{name: "both blank", group: memText("\n"), global: memText("\n"),
			count: map[string]int{groupHead: 0, globalHead: 0, copyNote: 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := t.TempDir()
			cfg := config{groupDir: filepath.Join(ws, "group"), globalDir: filepath.Join(ws, "global")}
			for dir, text := range map[string]*string{cfg.groupDir: c.group, cfg.globalDir: c.global} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if text != nil {
					if err := os.WriteFile(filepath.Join(dir, "CLAUDE.md"), []byte(*text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			req := baseRequest()
			req.IsMain = c.isMain
			blocks := systemPrompt(cfg, req)
			if len(blocks) != 1 {
				t.Fatalf("%d system blocks", len(blocks))
			}
			prompt := blocks[0].Text
			for s, want := range c.count {
				if got := strings.Count(prompt, s); got != want {
					t.Errorf("%q is in the prompt %d times, want %d:\n%s", s, got, want, prompt)
				}
			}
			if c.group != nil && c.global != nil && strings.Contains(prompt, groupHead) && strings.Contains(prompt, globalHead) &&
				strings.Index(prompt, groupHead) > strings.Index(prompt, globalHead) {
				t.Errorf("the global memory comes before the group's:\n%s", prompt)
			}
		})
	}
}

func memText(s string) *string { return &s }
