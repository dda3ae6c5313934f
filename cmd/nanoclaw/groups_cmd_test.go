package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/memory"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestGroupsCLI registers, lists and removes groups with no host running: the folder and
// its memory are created from the checkout's templates with the assistant's name (main's
// from the main template, any other's from the group template, and the global memory once),
// and bad input is refused with a clear message.
func TestGroupsCLI(t *testing.T) {
	work := t.TempDir()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	copyTemplates(t, root, work)
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config"), "ASSISTANT_NAME": "Claw", "TZ": "UTC"}
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"add", []string{"groups", "add", "--jid", "120363@g.us", "--folder", "family", "--name", "Family"}, 0, "registered 120363@g.us as family"},
		{"add main", []string{"groups", "add", "--jid", "local:boss", "--folder", "boss", "--main"}, 0, "registered local:boss as boss"},
		{"add without folder", []string{"groups", "add", "--jid", "x@g.us"}, 2, "--folder is required (see nanoclaw groups add -h)"},
		{"reserved folder", []string{"groups", "add", "--jid", "120364@g.us", "--folder", "global"}, 1, "folder"},
		{"traversal", []string{"groups", "add", "--jid", "120364@g.us", "--folder", "../etc"}, 1, "folder"},
		{"folder taken", []string{"groups", "add", "--jid", "120365@g.us", "--folder", "family"}, 1, "already belongs to 120363@g.us"},
		{"bad container config", []string{"groups", "add", "--jid", "120366@g.us", "--folder", "w", "--container-config", "{"}, 2, "not valid JSON"},
		{"second main refused", []string{"groups", "add", "--jid", "local:boss2", "--folder", "boss2", "--main"}, 1,
			"nanoclaw groups add: local:boss (folder boss) is already the main group, and one main group administers all the others: add this chat without --main, or pass --force for a second main group"},
		{"second main forced", []string{"groups", "add", "--jid", "local:boss2", "--folder", "boss2", "--main", "--force"}, 0, "registered local:boss2 as boss2"},
		{"main made ordinary refused", []string{"groups", "add", "--jid", "local:boss2", "--folder", "boss2"}, 1, "local:boss2 is the main group: add --main to keep it main, or --force"},
		{"main made ordinary forced", []string{"groups", "add", "--jid", "local:boss2", "--folder", "boss2", "--force"}, 0, "registered local:boss2 as boss2"},
		{"trigger without @", []string{"groups", "add", "--jid", "local:t", "--folder", "t", "--trigger", "Andy"}, 2,
			`nanoclaw groups add: trigger "Andy" must start with @, as in @Andy (see nanoclaw groups add -h)`},
		{"nonsense jid", []string{"groups", "add", "--jid", "nonsense", "--folder", "n"}, 2,
			`nanoclaw groups add: "nonsense" is not a chat id: use local:NAME for a local chat, or a WhatsApp id: <digits>@s.whatsapp.net (a person), <digits>@g.us or <digits>-<digits>@g.us (a group), <digits>@lid (see nanoclaw groups add -h)`},
		{"malformed group jid", []string{"groups", "add", "--jid", "family@g.us", "--folder", "n"}, 2, "is not a WhatsApp group id"},
		{"phone with +", []string{"groups", "add", "--jid", "+15551234567@s.whatsapp.net", "--folder", "n"}, 2, "without the +: 15551234567@s.whatsapp.net"},
		{"move refused", []string{"groups", "add", "--jid", "120363@g.us", "--folder", "kids"}, 1,
			`120363@g.us is registered with the folder "family": pass --move to move it to "kids"`},
		{"update in place", []string{"groups", "add", "--jid", "120363@g.us", "--folder", "family", "--name", "Family", "--trigger", "@Claw"}, 0, "registered 120363@g.us as family"},
		{"moved with --move", []string{"groups", "add", "--jid", "local:boss2", "--folder", "boss3", "--move"}, 0, "registered local:boss2 as boss3"},
		{"list", []string{"groups", "list"}, 0, "family"},
		{"list shows the move", []string{"groups", "list"}, 0, "boss3"},
		{"list json", []string{"groups", "list", "--json"}, 0, `"Trigger": "@Claw"`},
		{"reset", []string{"groups", "reset", "--folder", "family"}, 0, "family starts a new conversation"},
		{"reset without folder", []string{"groups", "reset"}, 2, "--folder is required"},
		{"reset unknown", []string{"groups", "reset", "--folder", "nobody"}, 1, "no registered group has the folder"},
		{"remove unknown", []string{"groups", "remove", "--jid", "nope@g.us"}, 1, "not registered"},
		{"remove", []string{"groups", "remove", "--jid", "120363@g.us"}, 0, "unregistered 120363@g.us"},
		{"list after remove", []string{"groups", "list"}, 0, "FOLDER"},
		{"unknown subcommand", []string{"groups", "frobnicate"}, 2, `unknown command "frobnicate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(t, work, vars, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d, want %d; output:\n%s\nwant it to contain %q", code, tc.code, out, tc.out)
			}
		})
	}
	for file, tmpl := range map[string]string{"groups/family/CLAUDE.md": "group", "groups/boss/CLAUDE.md": "main", "groups/global/CLAUDE.md": "global"} {
		b, err := os.ReadFile(filepath.Join(work, file))
		want, terr := os.ReadFile(filepath.Join(root, "templates", tmpl+".md"))
		if terr != nil {
			t.Fatal(terr)
		}
		if err != nil || string(b) != string(memory.Render(want, "Claw")) {
			t.Errorf("%s is not templates/%s.md with the name: %q, %v", file, tmpl, b, err)
		}
		if tmpl != "global" && (!strings.Contains(string(b), "# Claw") || !strings.Contains(string(b), "You are Claw")) {
			t.Errorf("%s lacks the assistant's name: %q", file, b)
		}
	}
	for _, d := range []string{"groups/family", "data/sessions/family"} {
		if fi, err := os.Stat(filepath.Join(work, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, d := range []string{"etc", "groups/family/logs", "groups/global/logs", "data/agents/global"} {
		if _, err := os.Stat(filepath.Join(work, d)); err == nil {
			t.Errorf("a refused folder left %s behind", d)
		}
	}
	if out, _ := cli(t, work, vars, "groups", "list"); strings.Contains(out, "family") {
		t.Errorf("removed group still listed:\n%s", out)
	}
}

// TestGroupsAddLeavesAgentLinks: a dangling CLAUDE.md link an agent left in a folder does
// not make `groups add` create the link's target; the group is registered without memory and
// the operator is told why.
func TestGroupsAddLeavesAgentLinks(t *testing.T) {
	work := t.TempDir()
	victim := t.TempDir()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	copyTemplates(t, root, work)
	if err := os.MkdirAll(filepath.Join(work, "groups", "planted"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(victim, "cron.d-entry")
	if err := os.Symlink(target, filepath.Join(work, "groups", "planted", "CLAUDE.md")); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config"), "TZ": "UTC"}
	out, code := cli(t, work, vars, "groups", "add", "--jid", "120367@g.us", "--folder", "planted")
	if code != 0 || !strings.Contains(out, "left alone") {
		t.Fatalf("groups add: exit %d\n%s", code, out)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the link's target was created: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(work, "groups", "planted", "CLAUDE.md")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was not left alone: %v", err)
	}
}

func TestStatusWithoutHost(t *testing.T) {
	work := t.TempDir()
	out, code := cli(t, work, map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "c")}, "status")
	if code != 1 || !strings.Contains(out, "no running host") {
		t.Fatalf("status with no host: %d\n%s", code, out)
	}
}
