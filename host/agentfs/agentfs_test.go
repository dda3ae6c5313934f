package agentfs

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOwnerFor(t *testing.T) {
	cases := []struct {
		uid, gid int
		want     Owner
		user     string
	}{
		{0, 0, Owner{UID: 1000, GID: 1000, Chown: true}, "1000:1000"},
		{1000, 1000, Owner{UID: 1000, GID: 1000}, "1000:1000"},
		{4242, 4343, Owner{UID: 4242, GID: 4343}, "4242:4343"},
	}
	for _, c := range cases {
		got := OwnerFor(c.uid, c.gid)
		if got != c.want || got.User() != c.user {
			t.Errorf("OwnerFor(%d, %d) = %+v (%s), want %+v (%s)", c.uid, c.gid, got, got.User(), c.want, c.user)
		}
	}
}

func TestNewRefusesRoot(t *testing.T) {
	for _, o := range []Owner{{}, {UID: 0, GID: 1000}, {UID: 1000, GID: 0}, {UID: -1, GID: 5}} {
		if _, err := New(t.TempDir(), o, nil); err == nil {
			t.Errorf("New accepted owner %+v", o)
		}
	}
	if _, err := New("relative", OwnerFor(0, 0), nil); err == nil {
		t.Error("New accepted a relative root")
	}
}

// project is a project root with the memory templates, as a checkout has them, and no
// group folder yet.
func project(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"global", "main", "group"} {
		if err := os.WriteFile(filepath.Join(root, "templates", name+".md"), []byte("# Andy "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// oldMemory writes groups/<folder>/CLAUDE.md as an older checkout left it (tracked, owned by
// whoever cloned).
func oldMemory(t *testing.T, root, folder, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "groups", folder), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "groups", folder, "CLAUDE.md"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newFS(t *testing.T, root string, o Owner) *FS {
	t.Helper()
	f, err := New(root, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func owner(t *testing.T, path string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// TestOwnership prepares a main group the way a root host and a non-root host do: as root
// everything the agent must write ends up 1000:1000; otherwise nothing is chowned and the
// host's own files are what the agent (running as the host's uid) writes.
func TestOwnership(t *testing.T) {
	self := os.Getuid()
	cases := []struct {
		name     string
		owner    Owner
		uid, gid int
	}{
		{"root host", OwnerFor(0, 0), 1000, 1000},
		{"non-root host", OwnerFor(4242, 4242), self, os.Getgid()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.owner.Chown && os.Geteuid() != 0 {
				t.Skip("chown to 1000 needs root")
			}
			root := project(t)
			f := newFS(t, root, c.owner)
			// An older host left root-owned memory files (main's and the global one were
			// tracked in the checkout): the agent's appends need them handed over.
			for _, folder := range []string{"old", "main", "global"} {
				oldMemory(t, root, folder, "old "+folder)
			}
			for _, g := range []struct {
				folder string
				main   bool
			}{{"main", true}, {"family", false}, {"old", false}} {
				if err := f.PrepareGroup(g.folder, g.main); err != nil {
					t.Fatal(err)
				}
			}
			res, err := f.CreateMemory("family", []byte("# Andy\n"))
			if err != nil || res != MemoryCreated {
				t.Fatalf("CreateMemory = %v, %v", res, err)
			}
			if err := f.WriteFile("family", "media/2026/photo.jpg", []byte("jpeg")); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{
				"groups/family", "groups/family/CLAUDE.md", "data/sessions/family",
				"groups/main", "groups/main/CLAUDE.md", "data/sessions/main",
				"groups/global", "groups/global/CLAUDE.md",
				"groups/old/CLAUDE.md",
				"groups/family/media", "groups/family/media/2026", "groups/family/media/2026/photo.jpg",
			} {
				if uid, gid := owner(t, filepath.Join(root, p)); uid != c.uid || gid != c.gid {
					t.Errorf("%s is owned by %d:%d, want %d:%d", p, uid, gid, c.uid, c.gid)
				}
			}
			if fi, err := os.Stat(filepath.Join(root, "groups", "family", "CLAUDE.md")); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("CLAUDE.md mode: %v, %v", fi.Mode(), err)
			}
		})
	}
}

// TestGlobalOnlyForMain: a non-main group's preparation leaves groups/global as it is.
func TestGlobalOnlyForMain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to 1000 needs root")
	}
	root := project(t)
	oldMemory(t, root, "global", "old global")
	f := newFS(t, root, OwnerFor(0, 0))
	if err := f.PrepareGroup("family", false); err != nil {
		t.Fatal(err)
	}
	if err := f.PrepareGlobal(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"groups/global", "groups/global/CLAUDE.md"} {
		if uid, _ := owner(t, filepath.Join(root, p)); uid != os.Getuid() {
			t.Errorf("%s was handed to %d for a non-main group", p, uid)
		}
	}
}

func TestTemplateAndMemory(t *testing.T) {
	root := project(t)
	f := newFS(t, root, OwnerFor(os.Getuid(), os.Getgid()))
	b, err := f.ReadTemplate("global")
	if err != nil || string(b) != "# Andy global\n" {
		t.Fatalf("ReadTemplate(global) = %q, %v", b, err)
	}
	if _, err := f.ReadTemplate("nosuch"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing template: %v", err)
	}
	// A group's memory and the global one: created once, then kept as they are.
	for _, c := range []struct {
		folder  string
		prepare func() error
	}{
		{"family", func() error { return f.PrepareGroup("family", false) }},
		{Global, f.PrepareGlobal},
	} {
		t.Run(c.folder, func(t *testing.T) {
			if err := c.prepare(); err != nil {
				t.Fatal(err)
			}
			if f.HasMemory(c.folder) {
				t.Error("HasMemory before any memory")
			}
			for i, want := range []MemoryResult{MemoryCreated, MemoryExists} {
				res, err := f.CreateMemory(c.folder, []byte("text #"+string(rune('0'+i))))
				if err != nil || res != want {
					t.Fatalf("CreateMemory #%d = %v, %v; want %v", i, res, err, want)
				}
			}
			if !f.HasMemory(c.folder) {
				t.Error("no HasMemory after CreateMemory")
			}
			if b, _ := os.ReadFile(filepath.Join(root, "groups", c.folder, "CLAUDE.md")); string(b) != "text #0" {
				t.Errorf("CLAUDE.md = %q, want the first text", b)
			}
		})
	}
	if err := f.WriteFile("family", "a.txt", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile("family", "a.txt", []byte("2")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteFile over an existing file: %v", err)
	}
	if err := f.ResetSession("nosuch"); err != nil {
		t.Errorf("ResetSession of a missing store: %v", err)
	}
}

func TestInvalidFolders(t *testing.T) {
	f := newFS(t, project(t), OwnerFor(os.Getuid(), os.Getgid()))
	for _, folder := range []string{"", "..", "../x", "a/b", "global", "Global", "/etc"} {
		errs := map[string]error{"PrepareGroup": f.PrepareGroup(folder, true), "WriteFile": f.WriteFile(folder, "x", nil), "ResetSession": f.ResetSession(folder)}
		if folder != Global { // the global memory is a memory folder, not a group's
			_, errs["CreateMemory"] = f.CreateMemory(folder, nil)
		}
		for op, err := range errs {
			if !errors.Is(err, ErrInvalidFolder) {
				t.Errorf("%s(%q) = %v", op, folder, err)
			}
		}
		if f.GroupDir(folder) != "" || f.SessionDir(folder) != "" {
			t.Errorf("a path for folder %q", folder)
		}
	}
	for _, rel := range []string{"", ".", "../x", "/etc/x", "a/../../x"} {
		if err := f.WriteFile("family", rel, nil); err == nil {
			t.Errorf("WriteFile accepted %q", rel)
		}
	}
	for _, name := range []string{"", "..", "../groups", "a/b", "/etc/passwd", "Main", "main.md", strings.Repeat("a", 33)} {
		if b, err := f.ReadTemplate(name); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadTemplate(%q) = %q, %v", name, b, err)
		}
	}
}

// entry is what a snapshot keeps of one file: enough to see any write, chown or chmod.
type entry struct {
	mode     fs.FileMode
	uid, gid uint32
	data     string
	link     string
}

func snapshot(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.data = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
		}
		out[p] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSymlinkAttacks plants what an agent can plant in its directories, runs what the host
// does, and checks that a victim directory outside the project (and, where the link points
// inside, the linked file) is exactly as it was: no file created, written, chowned or removed.
func TestSymlinkAttacks(t *testing.T) {
	o := OwnerFor(os.Getuid(), os.Getgid()) // as root: the chowning host
	type env struct {
		t              *testing.T
		root, victim   string
		group, session string // groups/family, data/sessions/family
	}
	link := func(e env, target, at string) {
		e.t.Helper()
		if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Symlink(target, at); err != nil {
			e.t.Fatal(err)
		}
	}
	write := func(e env, path, data string) {
		e.t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	refused := func(err error) error {
		if !errors.Is(err, ErrRefused) {
			return errors.New("want ErrRefused, got " + errString(err))
		}
		return nil
	}
	cases := []struct {
		name  string
		plant func(e env)
		act   func(f *FS) error // returns why the host's behaviour was wrong, or nil
		watch string            // a file inside the project that must not change either
	}{
		{name: "dangling CLAUDE.md link to an absolute path outside",
			plant: func(e env) { link(e, filepath.Join(e.victim, "planted.md"), filepath.Join(e.group, "CLAUDE.md")) },
			act: func(f *FS) error {
				if err := f.PrepareGroup("family", false); err != nil {
					return err
				}
				if res, err := f.CreateMemory("family", []byte("template")); err != nil || res != MemoryRefused {
					return errors.New("CreateMemory: " + res.String() + " " + errString(err))
				}
				return nil
			}},
		{name: "CLAUDE.md link to a root-owned file outside",
			plant: func(e env) { link(e, filepath.Join(e.victim, "shadow"), filepath.Join(e.group, "CLAUDE.md")) },
			act: func(f *FS) error {
				if err := f.PrepareGroup("family", false); err != nil { // would chown the target
					return err
				}
				if res, err := f.CreateMemory("family", []byte("template")); err != nil || res != MemoryRefused {
					return errors.New("CreateMemory: " + res.String() + " " + errString(err))
				}
				return nil
			}},
		{name: "CLAUDE.md link to a file inside the folder",
			plant: func(e env) {
				write(e, filepath.Join(e.group, "notes.txt"), "the agent's notes")
				link(e, "notes.txt", filepath.Join(e.group, "CLAUDE.md"))
			},
			watch: "groups/family/notes.txt",
			act: func(f *FS) error {
				if err := f.PrepareGroup("family", false); err != nil {
					return err
				}
				if res, err := f.CreateMemory("family", []byte("template")); err != nil || res != MemoryRefused {
					return errors.New("CreateMemory: " + res.String() + " " + errString(err))
				}
				return nil
			}},
		{name: "global template linked to a passwd-like file outside",
			plant: func(e env) {
				_ = os.Remove(filepath.Join(e.root, "templates", "global.md"))
				link(e, filepath.Join(e.victim, "passwd"), filepath.Join(e.root, "templates", "global.md"))
			},
			act: func(f *FS) error {
				b, err := f.ReadTemplate("global")
				if len(b) > 0 {
					return errors.New("template read: " + string(b))
				}
				return refused(err)
			}},
		{name: "templates directory replaced by a link outside",
			plant: func(e env) {
				write(e, filepath.Join(e.victim, "main.md"), "not the host's template")
				if err := os.RemoveAll(filepath.Join(e.root, "templates")); err != nil {
					e.t.Fatal(err)
				}
				link(e, e.victim, filepath.Join(e.root, "templates"))
			},
			act: func(f *FS) error {
				b, err := f.ReadTemplate("main")
				if len(b) > 0 {
					return errors.New("template read through the link: " + string(b))
				}
				return refused(err)
			}},
		{name: "main template linked to a file beside it",
			plant: func(e env) {
				write(e, filepath.Join(e.root, "templates", "other.md"), "someone's private notes")
				_ = os.Remove(filepath.Join(e.root, "templates", "main.md"))
				link(e, "other.md", filepath.Join(e.root, "templates", "main.md"))
			},
			watch: "templates/other.md",
			act: func(f *FS) error {
				_, err := f.ReadTemplate("main")
				return refused(err)
			}},
		{name: "template is a FIFO",
			plant: func(e env) {
				p := filepath.Join(e.root, "templates", "global.md")
				_ = os.Remove(p)
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					e.t.Fatal(err)
				}
			},
			act: func(f *FS) error {
				done := make(chan error, 1)
				go func() { _, err := f.ReadTemplate("global"); done <- err }()
				select {
				case err := <-done:
					return refused(err)
				case <-time.After(10 * time.Second):
					// Blocked opening the FIFO: give it a writer so the goroutine ends.
					if w, err := os.OpenFile(filepath.Join(f.root, "templates", "global.md"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						_ = w.Close()
					}
					return errors.New("ReadTemplate blocked on a FIFO")
				}
			}},
		{name: "template larger than the cap",
			plant: func(e env) {
				write(e, filepath.Join(e.root, "templates", "global.md"), strings.Repeat("x", MaxTemplateSize+1))
			},
			act: func(f *FS) error {
				_, err := f.ReadTemplate("global")
				return refused(err)
			}},
		{name: "global memory linked to a root-owned file outside (main can write there)",
			plant: func(e env) {
				link(e, filepath.Join(e.victim, "shadow"), filepath.Join(e.root, "groups", "global", "CLAUDE.md"))
			},
			act: func(f *FS) error {
				if err := f.PrepareGroup("main", true); err != nil { // hands global's CLAUDE.md over: must not chown the target
					return err
				}
				if f.HasMemory(Global) {
					return errors.New("a link counted as the global memory")
				}
				if res, err := f.CreateMemory(Global, []byte("template")); err != nil || res != MemoryRefused {
					return errors.New("CreateMemory: " + res.String() + " " + errString(err))
				}
				return nil
			}},
		{name: "global folder replaced by a link outside",
			plant: func(e env) { link(e, e.victim, filepath.Join(e.root, "groups", "global")) },
			act: func(f *FS) error {
				if err := refused(f.PrepareGlobal()); err != nil {
					return errors.New("PrepareGlobal: " + err.Error())
				}
				if err := refused(f.PrepareGroup("main", true)); err != nil {
					return errors.New("PrepareGroup(main): " + err.Error())
				}
				if res, err := f.CreateMemory(Global, []byte("template")); err == nil {
					return errors.New("CreateMemory through the link: " + res.String())
				}
				return nil
			}},
		{name: "logs directory replaced by a link outside",
			plant: func(e env) { link(e, e.victim, filepath.Join(e.group, "logs")) },
			act: func(f *FS) error {
				if err := f.PrepareGroup("family", false); err != nil {
					return err
				}
				if err := f.WriteFile("family", "logs/container-1.log", []byte("log")); err == nil {
					return errors.New("WriteFile wrote through the link")
				}
				return nil
			}},
		{name: "relative link climbing out of the folder",
			plant: func(e env) { link(e, "../../../victim", filepath.Join(e.group, "media")) },
			act: func(f *FS) error {
				if err := f.WriteFile("family", "media/photo.jpg", []byte("jpeg")); err == nil {
					return errors.New("WriteFile wrote through the link")
				}
				return nil
			}},
		{name: "file name already a link",
			plant: func(e env) { link(e, filepath.Join(e.victim, "new.jpg"), filepath.Join(e.group, "photo.jpg")) },
			act: func(f *FS) error {
				if err := f.WriteFile("family", "photo.jpg", []byte("jpeg")); !errors.Is(err, fs.ErrExist) {
					return errors.New("WriteFile: want ErrExist, got " + errString(err))
				}
				return nil
			}},
		{name: "session entries linking out, removed on reset",
			plant: func(e env) {
				link(e, e.victim, filepath.Join(e.session, ".claude"))
				link(e, filepath.Join(e.victim, "shadow"), filepath.Join(e.session, "secret"))
				link(e, e.victim, filepath.Join(e.session, ".nanoclaw", "sessions", "deep"))
				write(e, filepath.Join(e.session, ".nanoclaw", "sessions", "s1.json"), "{}")
			},
			act: func(f *FS) error {
				if err := f.ResetSession("family"); err != nil {
					return err
				}
				left, err := os.ReadDir(f.SessionDir("family"))
				if err != nil || len(left) != 0 {
					return errors.New("session store not emptied: " + errString(err))
				}
				return nil
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			base := t.TempDir()
			e := env{t: t, root: root, victim: filepath.Join(base, "victim"),
				group: filepath.Join(root, "groups", "family"), session: filepath.Join(root, "data", "sessions", "family")}
			// The victim sits beside the project, so "../../../victim" from groups/family/x
			// reaches it when links are followed.
			if err := os.Symlink(e.victim, filepath.Join(filepath.Dir(root), "victim")); err != nil && !errors.Is(err, fs.ErrExist) {
				t.Logf("no sibling link for the relative case: %v", err)
			}
			write(e, filepath.Join(e.victim, "shadow"), "root:secret")
			write(e, filepath.Join(e.victim, "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
			for _, d := range []string{e.group, e.session} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			c.plant(e)
			before := snapshot(t, e.victim)
			var watched map[string]entry
			if c.watch != "" {
				watched = snapshot(t, filepath.Join(root, c.watch))
			}
			if err := c.act(newFS(t, root, o)); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, e.victim); !maps.Equal(before, after) {
				t.Errorf("the victim changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if c.watch != "" {
				if after := snapshot(t, filepath.Join(root, c.watch)); !maps.Equal(watched, after) {
					t.Errorf("%s changed:\nbefore %+v\nafter  %+v", c.watch, watched, after)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestReadTemplateContent: what ReadTemplate returns is the file's bytes, whole.
func TestReadTemplateContent(t *testing.T) {
	root := project(t)
	want := bytes.Repeat([]byte("memory line\n"), 1000)
	if err := os.WriteFile(filepath.Join(root, "templates", "main.md"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := newFS(t, root, OwnerFor(os.Getuid(), os.Getgid())).ReadTemplate("main")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadTemplate: %d bytes, %v", len(got), err)
	}
}

// TestUsage counts regular files under a directory of a group's folder, never what a link
// the agent made points at, and nothing for a missing directory.
func TestUsage(t *testing.T) {
	root := project(t)
	f := newFS(t, root, OwnerFor(os.Getuid(), os.Getgid()))
	if err := f.PrepareGroup("family", false); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Usage("family", "media"); n != 0 || err != nil {
		t.Fatalf("missing media folder: %d, %v", n, err)
	}
	for rel, size := range map[string]int{"media/a.jpg": 100, "media/2026/b.pdf": 50, "other.txt": 1000} {
		if err := f.WriteFile("family", rel, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(outside, make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(root, "groups", "family", "media")
	for _, l := range []string{"link-file", "link-dir"} {
		target := outside
		if l == "link-dir" {
			target = filepath.Dir(outside)
		}
		if err := os.Symlink(target, filepath.Join(media, l)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.Usage("family", "media"); n != 150 || err != nil {
		t.Fatalf("usage %d, %v; want 150", n, err)
	}
	if _, err := f.Usage("family", "../x"); err == nil {
		t.Error("a path outside the folder was walked")
	}
	if _, err := f.Usage("..", "media"); !errors.Is(err, ErrInvalidFolder) {
		t.Errorf("invalid folder: %v", err)
	}
}
