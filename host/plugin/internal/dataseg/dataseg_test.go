package dataseg

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/wasmbin"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// module builds a binary with one memory of the given pages, exporting it, and a data
// section holding segs in order. extra sections (id, body) go before the data section.
func module(pages uint32, segs []segment, extra ...wasmbin.Section) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = wasmbin.AppendSection(out, wasmbin.SecMemory, wasmbin.AppendU32([]byte{1, 0}, pages))
	out = wasmbin.AppendSection(out, wasmbin.SecExport, append(wasmbin.AppendName([]byte{1}, "memory"), 2, 0))
	for _, s := range extra {
		out = wasmbin.AppendSection(out, s.ID, s.Body)
	}
	return wasmbin.AppendSection(out, wasmbin.SecData, encode(segs))
}

// image is the initial memory the module's data section describes: offset → byte.
func image(t testing.TB, module []byte) map[uint32]byte {
	t.Helper()
	secs, err := wasmbin.Sections(module)
	if err != nil {
		t.Fatal(err)
	}
	img := map[uint32]byte{}
	for _, s := range secs {
		if s.ID != wasmbin.SecData {
			continue
		}
		segs, ok := parse(s.Body)
		if !ok {
			t.Fatal("data section does not parse")
		}
		for _, sg := range segs {
			for i, c := range sg.data {
				if c != 0 {
					img[sg.offset+uint32(i)] = c
				}
			}
		}
	}
	return img
}

func TestCoalesce(t *testing.T) {
	seg := func(off uint32, s string) segment { return segment{off, []byte(s)} }
	cases := []struct {
		name    string
		in      []byte
		changed bool
		after   int // segments after
	}{
		{"neighbours merge", module(1, []segment{seg(16, "ab"), seg(40, "cd"), seg(100, "ef")}), true, 1},
		{"out of order merge", module(1, []segment{seg(100, "ef"), seg(16, "ab"), seg(40, "cd")}), true, 1},
		{"a long gap stays a gap", module(2, []segment{seg(16, "ab"), seg(40, "cd"), seg(40000, "ef")}), true, 2},
		{"touching segments", module(1, []segment{seg(0, "ab"), seg(2, "cd")}), true, 1},
		{"nothing to merge", module(2, []segment{seg(16, "ab"), seg(40000, "ef")}), false, 2},
		{"overlap keeps order", module(1, []segment{seg(16, "abcd"), seg(18, "xy")}), false, 2},
		{"zero-length inside another", module(1, []segment{seg(16, "abcd"), seg(18, "")}), false, 2},
		{"wraps past 4 GiB", module(1, []segment{seg(0, "ab"), seg(0xFFFFFFFF, "xy")}), false, 2},
		{"data count section", module(1, []segment{seg(0, "ab"), seg(4, "cd")}, wasmbin.Section{ID: wasmbin.SecDataCount, Body: []byte{2}}), false, 2},
		{"not wasm", []byte("hello"), false, -1},
		{"truncated", module(1, []segment{seg(0, "ab"), seg(4, "cd")})[:30], false, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed := Coalesce(c.in)
			if changed != c.changed {
				t.Fatalf("changed = %v, want %v", changed, c.changed)
			}
			if !changed {
				if !bytes.Equal(out, c.in) {
					t.Fatal("unchanged module differs from its input")
				}
				return
			}
			checkSame(t, c.in, out)
			secs, _ := wasmbin.Sections(out)
			for _, s := range secs {
				if s.ID == wasmbin.SecData {
					if segs, _ := parse(s.Body); len(segs) != c.after {
						t.Errorf("%d segments after, want %d", len(segs), c.after)
					}
				}
			}
		})
	}
}

// checkSame checks that out describes the same initial memory as in, through the data
// sections and through wazero, which must accept out and fail on it exactly when it fails
// on in.
func checkSame(t testing.TB, in, out []byte) {
	t.Helper()
	a, b := image(t, in), image(t, out)
	if len(a) != len(b) {
		t.Fatalf("%d non-zero bytes before, %d after", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("byte at %d: %d before, %d after", k, v, b[k])
		}
	}
	memA, errA := instantiate(t, in)
	memB, errB := instantiate(t, out)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("instantiation before: %v, after: %v", errA, errB)
	}
	if !bytes.Equal(memA, memB) {
		t.Fatal("wazero's initial memory differs")
	}
}

// instantiate returns the module's initial memory as wazero builds it.
func instantiate(t testing.TB, wasm []byte) ([]byte, error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		return nil, err
	}
	mem, _ := mod.Memory().Read(0, mod.Memory().Size())
	return bytes.Clone(mem), nil
}

// TestCoalesceGoGuest rewrites a real Go guest: tens of thousands of segments become a few,
// holding the same bytes, and wazero still compiles it.
func TestCoalesceGoGuest(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.BuildGo(t, "github.com/nanoclaw/nanoclaw-go/plugins/router", ""))
	if err != nil {
		t.Fatal(err)
	}
	out, changed := Coalesce(wasm)
	if !changed {
		t.Fatal("a Go guest was not coalesced")
	}
	a, b := image(t, wasm), image(t, out)
	if len(a) != len(b) {
		t.Fatalf("%d non-zero bytes before, %d after", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("byte at %d differs", k)
		}
	}
	secs, _ := wasmbin.Sections(out)
	for _, s := range secs {
		if s.ID == wasmbin.SecData {
			segs, _ := parse(s.Body)
			t.Logf("%d bytes → %d bytes, data segments → %d", len(wasm), len(out), len(segs))
			if len(segs) > 64 {
				t.Errorf("%d segments left", len(segs))
			}
		}
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, out); err != nil {
		t.Fatalf("wazero refuses the coalesced guest: %v", err)
	}
}

// FuzzCoalesce builds modules from fuzzed segment lists (offset, length, fill) and checks
// that the rewrite keeps the initial memory, and whether instantiation fails, unchanged.
func FuzzCoalesce(f *testing.F) {
	f.Add(uint8(1), []byte{0, 16, 2, 'a', 0, 40, 2, 'b'})
	f.Add(uint8(1), []byte{0, 100, 3, 'x', 0, 10, 1, 'y', 0, 12, 4, 'z'})
	f.Add(uint8(0), []byte{0, 1, 1, 'q'})
	f.Add(uint8(1), []byte{0xFF, 0xF0, 40, 'w', 0, 16, 2, 'a'})
	f.Fuzz(func(t *testing.T, pages uint8, spec []byte) {
		var segs []segment
		for len(spec) >= 4 && len(segs) < 64 {
			off := uint32(binary.BigEndian.Uint16(spec[:2]))
			if off >= 0xFF00 { // now and then, far out of bounds
				off = 0xFFFFFF00 + off&0xFF
			}
			segs = append(segs, segment{off, bytes.Repeat([]byte{spec[3]}, int(spec[2]))})
			spec = spec[4:]
		}
		in := module(uint32(pages%3), segs)
		out, changed := Coalesce(in)
		if !changed {
			if !bytes.Equal(out, in) {
				t.Fatal("unchanged module differs from its input")
			}
			return
		}
		checkSame(t, in, out)
	})
}
