package interrupt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// wat reads testdata/NAME.wasm, assembled from testdata/NAME.wat and committed, so the tests
// need no wat2wasm (plugintest's TestWATFixtures keeps the two in step).
func wat(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInterruptStopsLoop: the instrumented module computes as before, and setting the
// global from another goroutine stops an infinite loop.
func TestInterruptStopsLoop(t *testing.T) {
	cases := []struct {
		name    string
		fixture string
	}{
		{"with globals and exports", "spin"},
		{"without global or export sections", "startloop"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := Instrument(wat(t, c.fixture))
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
			if c.fixture != "spin" {
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
		{"truncated", wat(t, "spin")[:30]},
		{"already exports the name", wat(t, "exportsname")},
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
