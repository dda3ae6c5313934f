package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func idOf(t testing.TB, p string) FileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return FileID{Dev: uint64(st.Dev), Ino: st.Ino}
}

// TestPinDir: a pin is the directory itself, never something reached through a symlink.
func TestPinDir(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"real/sub", "other"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "leaf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(base, "mid")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		err  string // "" means pinned
	}{
		{filepath.Join(base, "real/sub"), ""},
		{filepath.Join(base, "leaf"), "too many levels of symbolic links"},
		{filepath.Join(base, "mid/sub"), "too many levels of symbolic links"},
		{filepath.Join(base, "file"), "not a directory"},
		{filepath.Join(base, "missing"), "no such file"},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			f, id, err := pinDir(c.path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("pinDir(%s) = %v, want an error saying %q", c.path, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if want := idOf(t, c.path); id != want {
				t.Fatalf("pinned %v, the directory is %v", id, want)
			}
		})
	}
}

// TestVerifyMounts checks the verification against this test process standing in for a
// container: its /proc/<pid>/root is the real root, so a mount's target is a real path.
func TestVerifyMounts(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(a, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	idA, idB := idOf(t, a), idOf(t, b)
	self := os.Getpid()
	mount := func(target string, id *FileID) Mount { return Mount{Source: "/approved", Target: target, Verify: id} }
	cases := []struct {
		name     string
		pid      int
		mounts   []Mount
		err      string // "" means verified
		mismatch bool
	}{
		{"nothing to verify, no pid", 0, []Mount{{Source: a, Target: a}}, "", false},
		{"nothing to verify, any pid", self, []Mount{{Source: a, Target: "/nonexistent"}}, "", false},
		{"to verify, no pid: fail closed", 0, []Mount{mount(a, &idA)}, "did not report the container's process", false},
		{"the approved directory", self, []Mount{mount(a, &idA), mount(b, &idB)}, "", false},
		{"another directory bound", self, []Mount{mount(a, &idA), mount(b, &idA)}, "is not the directory approved", true},
		{"target through a symlink", self, []Mount{mount(filepath.Join(base, "link"), &idA)}, "symbolic links", false},
		{"target missing", self, []Mount{mount(filepath.Join(base, "missing"), &idA)}, "no such file", false},
		{"process gone", gone.Process.Pid, []Mount{mount(a, &idA)}, "open the container's root", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifyMounts(c.pid, Spec{Mounts: c.mounts})
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrMountVerify) || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("VerifyMounts = %v, want ErrMountVerify saying %q", err, c.err)
			}
			var mm *MountMismatchError
			if errors.As(err, &mm) != c.mismatch || (c.mismatch && (mm.Got != idB || mm.Want != idA || mm.Target != b)) {
				t.Fatalf("mismatch report %+v (want one: %v)", mm, c.mismatch)
			}
		})
	}
}
