package agentfs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveFile: a host file in a group folder is removed; a missing one is no error; a
// link the agent put at the name is removed itself, never its target; a linked directory
// on the way cannot lead outside the folder; a path that leaves the folder is refused.
func TestRemoveFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, group, outside string)
		rel     string
		wantErr bool
		gone    string // path (under group) that must no longer exist
		kept    string // absolute path that must still exist
	}{
		{name: "a file", rel: "media/a.jpg", gone: "media/a.jpg",
			setup: func(t *testing.T, group, _ string) { write(t, filepath.Join(group, "media", "a.jpg")) }},
		{name: "missing", rel: "media/none.jpg"},
		{name: "a link at the name: the link goes, its target stays", rel: "media/a.jpg", gone: "media/a.jpg", kept: "OUTSIDE/secret",
			setup: func(t *testing.T, group, outside string) {
				write(t, filepath.Join(outside, "secret"))
				mkdir(t, filepath.Join(group, "media"))
				link(t, filepath.Join(outside, "secret"), filepath.Join(group, "media", "a.jpg"))
			}},
		{name: "a linked directory leading outside", rel: "media/secret", wantErr: true, kept: "OUTSIDE/secret",
			setup: func(t *testing.T, group, outside string) {
				write(t, filepath.Join(outside, "secret"))
				link(t, outside, filepath.Join(group, "media"))
			}},
		{name: "a path out of the folder", rel: "../other/x", wantErr: true},
		{name: "the folder itself", rel: ".", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			outside := t.TempDir()
			f := newFS(t, root, OwnerFor(os.Getuid(), os.Getgid()))
			group := filepath.Join(root, "groups", "family")
			mkdir(t, group)
			if tc.setup != nil {
				tc.setup(t, group, outside)
			}
			err := f.RemoveFile("family", tc.rel)
			if (err != nil) != tc.wantErr {
				t.Fatalf("RemoveFile(%q): %v, want error %v", tc.rel, err, tc.wantErr)
			}
			if tc.gone != "" {
				if _, err := os.Lstat(filepath.Join(group, tc.gone)); !os.IsNotExist(err) {
					t.Errorf("%s still there: %v", tc.gone, err)
				}
			}
			if tc.kept != "" {
				p := filepath.Join(outside, filepath.Base(tc.kept))
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s is gone: %v", p, err)
				}
			}
		})
	}
	f := newFS(t, t.TempDir(), OwnerFor(os.Getuid(), os.Getgid()))
	if err := f.RemoveFile("../etc", "passwd"); err == nil {
		t.Error("an invalid folder was accepted")
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, at string) {
	t.Helper()
	if err := os.Symlink(target, at); err != nil {
		t.Fatal(err)
	}
}
