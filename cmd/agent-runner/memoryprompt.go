package main

import (
	"bytes"
	"fmt"
	"strings"
)

// memoryPrompt is the memory part of the system prompt: the group's own memory and the
// global memory, each at most once and labelled with what it is and who may change it, so
// the model knows which file to edit for what. For main the global memory is its own to
// keep (mounted read-write); for any other group it is read-only. A group whose memory is
// the global memory's very text (an older version copied the global file into every new
// group) gets it once, with a note that its own file is that copy. groupPath and globalPath
// are the two CLAUDE.md files; read is how a file is read (readMemoryFile); a file that is
// missing, unreadable or blank is left out.
func memoryPrompt(groupPath, globalPath string, isMain bool, read func(string) ([]byte, error)) string {
	text := func(p string) string {
		b, err := read(p)
		if err != nil {
			return ""
		}
		return string(bytes.TrimSpace(b))
	}
	group, global := text(groupPath), text(globalPath)
	groupLabel := "this group's own: only its conversations read it, and you may edit it"
	globalLabel := "shared by every group: read-only here, only the main group can change it"
	if isMain {
		groupLabel = "the main group's own: no other group reads it, and you may edit it"
		globalLabel = "shared by every group: you keep it, so you may edit it, and every other group reads it"
	}
	var sb strings.Builder
	switch {
	case group != "" && group == global:
		fmt.Fprintf(&sb, "\n# Group memory (%s; %s)\n\nIt holds the same text as the global memory below, copied there by an older version, so it is shown once: replace it with this group's own notes as they come.\n", groupPath, groupLabel)
	case group != "":
		fmt.Fprintf(&sb, "\n# Group memory (%s; %s)\n\n%s\n", groupPath, groupLabel, group)
	}
	if global != "" {
		fmt.Fprintf(&sb, "\n# Global memory (%s; %s)\n\n%s\n", globalPath, globalLabel, global)
	}
	return sb.String()
}
