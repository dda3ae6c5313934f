package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		data string
		perm os.FileMode
		ok   bool
	}{
		{"new file", filepath.Join(dir, "a.json"), `{"a":1}`, 0o644, true},
		{"replace", filepath.Join(dir, "a.json"), `{"a":2}`, 0o600, true},
		{"empty", filepath.Join(dir, "_close"), "", 0o666, true},
		{"missing directory", filepath.Join(dir, "nope", "b.json"), "x", 0o644, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(tc.path, []byte(tc.data), tc.perm)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			b, err := os.ReadFile(tc.path)
			if err != nil || string(b) != tc.data {
				t.Fatalf("content %q, %v", b, err)
			}
			fi, _ := os.Stat(tc.path)
			if fi.Mode().Perm() != tc.perm {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(tc.path), ".*.tmp")); len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

// TestWriteConcurrent: writers racing on one path each land whole; none fails.
func TestWriteConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	errs := make(chan error, 8)
	for i := range 8 {
		go func() { errs <- Write(path, []byte(strings.Repeat(string(rune('a'+i)), 1000)), 0o644) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if len(b) != 1000 || strings.Count(string(b), string(b[:1])) != 1000 {
		t.Fatalf("torn file: %q", b[:20])
	}
}
