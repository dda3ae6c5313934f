package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestRunMakesMissingMemory: a group's run makes the memory it is missing from the templates
// before its container starts (what an existing checkout meets when an update removed the
// memory files it tracked, or a user deleted one to start over), and keeps what exists.
func TestRunMakesMissingMemory(t *testing.T) {
	t.Parallel()
	const mine = "remember: the owner's cat is called Tom\n"
	render := func(name string) string {
		return strings.NewReplacer("# Andy", "# Claw", "You are Andy", "You are Claw").Replace(testTemplates[name])
	}
	cases := []struct {
		name   string
		group  store.Group
		remove []string          // memory files deleted after registration
		write  map[string]string // memory files the user has
		want   map[string]string // memory files when the container starts
	}{
		{name: "main after an update removed its files", group: mainGroup,
			remove: []string{"groups/main/CLAUDE.md", "groups/global/CLAUDE.md"},
			want:   map[string]string{"groups/main/CLAUDE.md": render("main"), "groups/global/CLAUDE.md": render("global")}},
		{name: "another group's deleted memory", group: familyGroup,
			remove: []string{"groups/family/CLAUDE.md"},
			want:   map[string]string{"groups/family/CLAUDE.md": render("group"), "groups/global/CLAUDE.md": render("global")}},
		{name: "existing memory is kept", group: mainGroup,
			write: map[string]string{"groups/main/CLAUDE.md": mine, "groups/global/CLAUDE.md": "shared: " + mine},
			want:  map[string]string{"groups/main/CLAUDE.md": mine, "groups/global/CLAUDE.md": "shared: " + mine}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{settings: func(s *config.Settings) { s.AssistantName = "Claw" }})
			h.register(c.group)
			for _, rel := range c.remove {
				if err := os.Remove(filepath.Join(h.root, rel)); err != nil {
					t.Fatal(err)
				}
			}
			for rel, text := range c.write {
				if err := os.WriteFile(filepath.Join(h.root, rel), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			h.message(msg(c.group.JID, "m1", "@Andy hello", 0))
			r := h.nextRun()
			for rel, want := range c.want {
				if b, err := os.ReadFile(filepath.Join(h.root, rel)); err != nil || string(b) != want {
					t.Errorf("%s when the container starts: %q (%v), want %q", rel, b, err, want)
				}
			}
			r.exit(0)
			h.drain()
		})
	}
}
