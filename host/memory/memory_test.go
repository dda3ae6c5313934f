package memory

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
)

// moduleRoot is the checkout these tests run in: its templates and .gitignore are the ones
// a user gets.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no module root at %s: %v", root, err)
	}
	return root
}

// copyFile copies the checkout's file rel into dir.
func copyFile(t *testing.T, from, dir, rel string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(from, rel))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, rel), string(b))
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freshProject is a project root as a fresh clone has it: the checkout's templates, its
// .gitignore and groups/README.md, and no memory file.
func freshProject(t *testing.T) string {
	t.Helper()
	src, dir := moduleRoot(t), t.TempDir()
	for _, rel := range []string{".gitignore", "groups/README.md", "templates/main.md", "templates/group.md", "templates/global.md"} {
		copyFile(t, src, dir, rel)
	}
	return dir
}

func agents(t *testing.T, root string) *agentfs.FS {
	t.Helper()
	a, err := agentfs.New(root, agentfs.OwnerFor(os.Getuid(), os.Getgid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func template(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "templates", name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEnsure: what memory a group's preparation makes, from which template, and what it
// leaves alone.
func TestEnsure(t *testing.T) {
	mainText := string(Render([]byte(template(t, TemplateMain)), "Claw"))
	groupText := string(Render([]byte(template(t, TemplateGroup)), "Claw"))
	globalText := template(t, TemplateGlobal)
	const mine = "# Claw\n\nremember: the owner's cat is called Tom\n"
	// The tracked groups/main/CLAUDE.md and groups/global/CLAUDE.md of older checkouts.
	const oldMain = "# Andy\n\nYou are Andy, a personal assistant. This is the main group.\n"
	const oldGlobal = "# Andy\n\nYou are Andy, a personal assistant in a group chat.\n"
	const none = "\x00none"
	cases := []struct {
		name   string
		folder string
		isMain bool
		before map[string]string // files written before, relative to the project
		plant  func(t *testing.T, root string)
		err    error             // errors.Is; nil: success
		after  map[string]string // files afterwards (none: must not exist)
		links  []string          // links that must still be there, as they were
	}{
		{name: "fresh install: main", folder: "main", isMain: true,
			after: map[string]string{"groups/main/CLAUDE.md": mainText, "groups/global/CLAUDE.md": globalText}},
		{name: "fresh install: another group gets its own template, not the global text", folder: "family",
			after: map[string]string{"groups/family/CLAUDE.md": groupText, "groups/global/CLAUDE.md": globalText, "groups/main/CLAUDE.md": none}},
		{name: "main's folder need not be called main", folder: "whatsapp_main", isMain: true,
			after: map[string]string{"groups/whatsapp_main/CLAUDE.md": mainText, "groups/main/CLAUDE.md": none}},
		{name: "existing memory is never overwritten", folder: "family",
			before: map[string]string{"groups/family/CLAUDE.md": mine, "groups/global/CLAUDE.md": "shared: " + mine},
			after:  map[string]string{"groups/family/CLAUDE.md": mine, "groups/global/CLAUDE.md": "shared: " + mine}},
		{name: "an older checkout's main and global memory are kept as they are", folder: "main", isMain: true,
			before: map[string]string{"groups/main/CLAUDE.md": oldMain + "- remembered\n", "groups/global/CLAUDE.md": oldGlobal},
			after:  map[string]string{"groups/main/CLAUDE.md": oldMain + "- remembered\n", "groups/global/CLAUDE.md": oldGlobal}},
		{name: "an older group's copy of the global template is kept", folder: "family",
			before: map[string]string{"groups/family/CLAUDE.md": oldGlobal},
			after:  map[string]string{"groups/family/CLAUDE.md": oldGlobal, "groups/global/CLAUDE.md": globalText}},
		{name: "an empty memory file is the user's too", folder: "family",
			before: map[string]string{"groups/family/CLAUDE.md": ""},
			after:  map[string]string{"groups/family/CLAUDE.md": "", "groups/global/CLAUDE.md": globalText}},
		{name: "no templates: no memory, no error", folder: "family",
			plant: func(t *testing.T, root string) { removeAll(t, filepath.Join(root, "templates")) },
			after: map[string]string{"groups/family/CLAUDE.md": none, "groups/global/CLAUDE.md": none}},
		{name: "a linked template location is refused", folder: "family", err: agentfs.ErrRefused,
			plant: func(t *testing.T, root string) {
				elsewhere := t.TempDir()
				write(t, filepath.Join(elsewhere, "group.md"), "not the host's template")
				write(t, filepath.Join(elsewhere, "global.md"), "not the host's template")
				removeAll(t, filepath.Join(root, "templates"))
				symlink(t, elsewhere, filepath.Join(root, "templates"))
			},
			after: map[string]string{"groups/family/CLAUDE.md": none, "groups/global/CLAUDE.md": none}},
		{name: "a linked group template is refused", folder: "family", err: agentfs.ErrRefused,
			plant: func(t *testing.T, root string) {
				removeAll(t, filepath.Join(root, "templates", "group.md"))
				symlink(t, "main.md", filepath.Join(root, "templates", "group.md"))
			},
			after: map[string]string{"groups/family/CLAUDE.md": none, "groups/global/CLAUDE.md": globalText}},
		{name: "a FIFO template is refused without blocking", folder: "main", isMain: true, err: agentfs.ErrRefused,
			plant: func(t *testing.T, root string) {
				p := filepath.Join(root, "templates", "main.md")
				removeAll(t, p)
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			after: map[string]string{"groups/main/CLAUDE.md": none}},
		{name: "a link where the group's memory goes is left alone", folder: "family",
			plant: func(t *testing.T, root string) {
				if err := os.MkdirAll(filepath.Join(root, "groups", "family"), 0o755); err != nil {
					t.Fatal(err)
				}
				symlink(t, filepath.Join(root, "victim.md"), filepath.Join(root, "groups", "family", "CLAUDE.md"))
			},
			after: map[string]string{"victim.md": none, "groups/global/CLAUDE.md": globalText},
			links: []string{"groups/family/CLAUDE.md"}},
		{name: "a link where the global memory goes is left alone", folder: "main", isMain: true,
			plant: func(t *testing.T, root string) {
				if err := os.MkdirAll(filepath.Join(root, "groups", "global"), 0o755); err != nil {
					t.Fatal(err)
				}
				symlink(t, filepath.Join(root, "victim.md"), filepath.Join(root, "groups", "global", "CLAUDE.md"))
			},
			after: map[string]string{"victim.md": none, "groups/main/CLAUDE.md": mainText},
			links: []string{"groups/global/CLAUDE.md"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := freshProject(t)
			for rel, text := range c.before {
				write(t, filepath.Join(root, rel), text)
			}
			if c.plant != nil {
				c.plant(t, root)
			}
			a := agents(t, root)
			if err := a.PrepareGroup(c.folder, c.isMain); err != nil {
				t.Fatal(err)
			}
			err := Ensure(a, c.folder, c.isMain, "Claw")
			if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("Ensure = %v, want %v", err, c.err)
			}
			for rel, want := range c.after {
				b, err := os.ReadFile(filepath.Join(root, rel))
				switch {
				case want == none && !errors.Is(err, fs.ErrNotExist):
					t.Errorf("%s exists (%q, %v), want none", rel, b, err)
				case want != none && (err != nil || string(b) != want):
					t.Errorf("%s = %q (%v), want %q", rel, b, err, want)
				}
			}
			for _, rel := range c.links {
				if target, err := os.Readlink(filepath.Join(root, rel)); err != nil || target != filepath.Join(root, "victim.md") {
					t.Errorf("the link at %s was not left alone: %q, %v", rel, target, err)
				}
			}
		})
	}
}

func removeAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, at string) {
	t.Helper()
	if err := os.Symlink(target, at); err != nil {
		t.Fatal(err)
	}
}

func TestRender(t *testing.T) {
	cases := []struct{ in, name, want string }{
		{"# Andy\n\nYou are Andy, a helper.\n", "Claw", "# Claw\n\nYou are Claw, a helper.\n"},
		{"# Andy\n\nYou are Andy.\n", "Andy", "# Andy\n\nYou are Andy.\n"},
		{"# Andy\n", "", "# Andy\n"},
		// Only the heading and "You are": Andy the person in a sentence stays.
		{"# Andy\n\nAsk Andy's sister.\n", "Claw", "# Claw\n\nAsk Andy's sister.\n"},
		{"# Global memory\n\nShared.\n", "Claw", "# Global memory\n\nShared.\n"},
	}
	for _, c := range cases {
		if got := string(Render([]byte(c.in), c.name)); got != c.want {
			t.Errorf("Render(%q, %q) = %q, want %q", c.in, c.name, got, c.want)
		}
	}
}

// TestTemplates: the checkout's templates say what each memory file is for and, for the
// files that start a group's memory, how to format for WhatsApp; the name is substituted in
// the group templates and the global memory is no group's identity.
func TestTemplates(t *testing.T) {
	formatting := []string{"*bold*", "single asterisks", "_italic_", "~strikethrough~", "```monospace```", "bullet", "[links](url)", "# headings"}
	cases := []struct {
		name     string
		contains []string
		lacks    []string
	}{
		{TemplateMain, append([]string{"# Andy", "You are Andy", "main group", "/workspace/group/CLAUDE.md", "/workspace/global/CLAUDE.md", "only you"}, formatting...), nil},
		{TemplateGroup, append([]string{"# Andy", "You are Andy", "this group's own memory", "/workspace/group/CLAUDE.md", "/workspace/global/CLAUDE.md", "you can read it but not change it"}, formatting...), nil},
		{TemplateGlobal, []string{"every group reads this file", "only the main group can change it"}, []string{"You are Andy", "# Andy"}},
	}
	a := agents(t, moduleRoot(t))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := a.ReadTemplate(c.name) // the host's own read, with its checks
			if err != nil {
				t.Fatal(err)
			}
			// Words, not line breaks: the templates are wrapped for reading.
			text := strings.Join(strings.Fields(string(b)), " ")
			for _, s := range c.contains {
				if !strings.Contains(text, s) {
					t.Errorf("templates/%s.md lacks %q", c.name, s)
				}
			}
			for _, s := range c.lacks {
				if strings.Contains(text, s) {
					t.Errorf("templates/%s.md has %q", c.name, s)
				}
			}
			if r := string(Render(b, "Claw")); strings.Contains(r, "You are Andy") || strings.Contains(r, "# Andy") {
				t.Errorf("the name is not substituted everywhere:\n%s", r)
			}
		})
	}
}

// TestCheckoutStaysClean: in a clone of the checkout's tracked files (templates, .gitignore,
// groups/README.md), a fresh install's memory and everything agents then write in their
// folders leave `git status` clean, while the templates and the README stay tracked.
func TestCheckoutStaysClean(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root := freshProject(t)
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "clone"}} {
		if out, err := git(args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	tracked, err := git("ls-files")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".gitignore", "groups/README.md", "templates/main.md", "templates/group.md", "templates/global.md"} {
		if !strings.Contains(tracked, want+"\n") {
			t.Errorf("%s is not tracked (ignored?); tracked:\n%s", want, tracked)
		}
	}
	a := agents(t, root)
	for _, g := range []struct {
		folder string
		isMain bool
	}{{"main", true}, {"family", false}} {
		if err := a.PrepareGroup(g.folder, g.isMain); err != nil {
			t.Fatal(err)
		}
		if err := Ensure(a, g.folder, g.isMain, "Claw"); err != nil {
			t.Fatal(err)
		}
	}
	// What agents do: edit their memory (main the global one too), keep other files.
	for _, rel := range []string{"groups/main/CLAUDE.md", "groups/global/CLAUDE.md", "groups/family/CLAUDE.md"} {
		f, err := os.OpenFile(filepath.Join(root, rel), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatalf("%s was not made: %v", rel, err)
		}
		_, err = f.WriteString("- remembered by the agent\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(root, "groups", "family", "notes", "list.md"), "milk\n")
	write(t, filepath.Join(root, "groups", "global", "shared.md"), "shared\n")
	if out, err := git("status", "--porcelain", "--untracked-files=all"); err != nil || out != "" {
		t.Errorf("the checkout is not clean after the agents' edits (%v):\n%s", err, out)
	}
	// And the templates are not what changed: an edit to one shows.
	write(t, filepath.Join(root, "templates", "group.md"), "changed\n")
	if out, err := git("status", "--porcelain"); err != nil || !strings.Contains(out, "templates/group.md") {
		t.Errorf("an edited template does not show in git status (%v):\n%s", err, out)
	}
}
