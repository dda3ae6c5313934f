package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadFileSaysWhatIsWrong: a module that cannot load is reported in the user's terms,
// naming the file at fault and what a plugin needs, not the loader's inner step.
func TestLoadFileSaysWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	manifest := `{"name":"x","kind":"route","abi":1}`
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, wasm string // wasm "" : no module file
		manifest   bool
		is         error
		says       []string
		never      string
	}{
		{name: "garbage", wasm: "junk\n", manifest: true, is: ErrNotWasm,
			says: []string{"garbage.wasm is not a WebAssembly module", `starts with "junk\n"`}, never: "instrumentation"},
		{name: "empty", wasm: "", manifest: true, is: ErrNotWasm, says: []string{"empty.wasm is not a WebAssembly module"}},
		{name: "version2", wasm: "\x00asm\x02\x00\x00\x00", manifest: true, is: ErrNotWasm,
			says: []string{"version2.wasm is not a WebAssembly module this host runs: WebAssembly version 2, want 1"}},
		{name: "damaged", wasm: "\x00asm\x01\x00\x00\x00\x01\x05", manifest: true, is: ErrNotWasm,
			says: []string{"damaged.wasm is not a WebAssembly module: it is damaged ("}, never: "instrumentation"},
		{name: "noabi", wasm: "\x00asm\x01\x00\x00\x00", manifest: true, is: ErrExport,
			says: []string{"noabi.wasm: bad export: it does not export policy_abi_version, so it was not built as a NanoClaw plugin"}},
		{name: "nomanifest", wasm: "\x00asm\x01\x00\x00\x00",
			says: []string{"nomanifest.wasm has no manifest: ", "nomanifest.json is missing", "a plugin is NAME.wasm", "manifest NAME.json beside it"}},
		{name: "nomodule", manifest: true,
			says: []string{"nomodule.wasm does not exist: a plugin is NAME.wasm"}, never: "manifest: open"},
	}
	l, err := NewLoader(LoaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.manifest {
				write(c.name+".json", manifest)
			}
			path := filepath.Join(dir, c.name+".wasm")
			if c.name != "nomodule" {
				write(c.name+".wasm", c.wasm)
			}
			_, err := l.LoadFile(context.Background(), path)
			if err == nil {
				t.Fatal("loaded")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%v is not %v", err, c.is)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q\nlacks %q", err, s)
				}
			}
			if c.never != "" && strings.Contains(err.Error(), c.never) {
				t.Errorf("%q says %q", err, c.never)
			}
		})
	}
	if err := os.Mkdir(filepath.Join(dir, "d.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LoadFile(context.Background(), filepath.Join(dir, "d.wasm")); err == nil || !strings.Contains(err.Error(), "d.wasm is a directory, not a WebAssembly module") {
		t.Errorf("a directory: %v", err)
	}
}
