package wasmbin

import (
	"errors"
	"math"
	"testing"
)

func TestS32RoundTrip(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, math.MaxInt32, math.MinInt32} {
		r := Reader{B: AppendS32(nil, v)}
		if got := r.S32(); got != v || r.Err != nil || !r.Done() {
			t.Errorf("S32(AppendS32(%d)) = %d, %v", v, got, r.Err)
		}
	}
}

func TestReaderRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		read func(*Reader)
	}{
		{"s32 too large", []byte{0x80, 0x80, 0x80, 0x80, 0x08}, func(r *Reader) { r.S32() }},
		{"s32 too long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, func(r *Reader) { r.S32() }},
		{"u32 overflow", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x1F}, func(r *Reader) { r.U32() }},
		{"bytes past the end", []byte{3, 'a'}, func(r *Reader) { r.Name() }},
		{"empty", nil, func(r *Reader) { r.Byte() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Reader{B: c.in}
			c.read(&r)
			if !errors.Is(r.Err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", r.Err)
			}
		})
	}
}

func TestSections(t *testing.T) {
	mod := AppendSection([]byte("\x00asm\x01\x00\x00\x00"), SecType, []byte{0})
	mod = AppendSection(mod, SecCustom, []byte("\x01xyz"))
	secs, err := Sections(mod)
	if err != nil || len(secs) != 2 || secs[0].ID != SecType || string(secs[1].Body) != "\x01xyz" {
		t.Fatalf("Sections = %v, %v", secs, err)
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm\x02\x00\x00\x00"), mod[:len(mod)-1]} {
		if _, err := Sections(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Sections(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}
