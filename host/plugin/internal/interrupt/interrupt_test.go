package interrupt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func wat(t *testing.T, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "m.wat")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.wasm")
	if b, err := exec.Command("wat2wasm", "--enable-all", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const spin = `(module
  (global $g (mut i32) (i32.const 7))
  (func (export "spin") (param $n i32) (result i32)
    (local $i i32)
    (block $out (loop $l
      (br_if $out (i32.eq (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i))
  (func (export "forever") (loop $l (br $l))))`

// TestInterruptStopsLoop: the instrumented module computes as before, and setting the
// global from another goroutine stops an infinite loop.
func TestInterruptStopsLoop(t *testing.T) {
	cases := []struct {
		name string
		src  string
	}{
		{"with globals and exports", spin},
		{"without global or export sections", `(module (func $f (loop $l (br $l))) (start $f))`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := Instrument(wat(t, c.src))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			cm, err := rt.CompileModule(ctx, in)
			if err != nil {
				t.Fatalf("instrumented module does not compile: %v", err)
			}
			if c.src != spin {
				return
			}
			mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
			if err != nil {
				t.Fatal(err)
			}
			res, err := mod.ExportedFunction("spin").Call(ctx, 1000)
			if err != nil || res[0] != 1000 {
				t.Fatalf("spin(1000) = %v, %v", res, err)
			}
			g, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
			if !ok {
				t.Fatal("interrupt global missing or immutable")
			}
			timer := time.AfterFunc(20*time.Millisecond, func() { g.Set(1) })
			defer timer.Stop()
			start := time.Now()
			_, err = mod.ExportedFunction("forever").Call(ctx)
			if err == nil {
				t.Fatal("forever returned")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("stopped after %v", d)
			}
		})
	}
}

func TestInstrumentRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
	}{
		{"not wasm", []byte("hello world")},
		{"truncated", wat(t, spin)[:30]},
		{"already exports the name", wat(t, `(module (global (export "nanoclaw_interrupt") i32 (i32.const 0)))`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Instrument(c.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// FuzzInstrument: any input either is refused or yields a module; a valid module stays valid.
func FuzzInstrument(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Instrument(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte("\x00asm")) {
			t.Fatal("output lost the header")
		}
	})
}
