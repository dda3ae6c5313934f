// Package wasmbin reads and writes just enough of the WebAssembly binary format for the
// host's rewrites of a plugin before compiling it (internal/interrupt, internal/dataseg).
// Every read is bounds-checked: the input is an untrusted plugin, parsed in the host.
package wasmbin

import (
	"errors"
	"fmt"
)

// ErrMalformed reports a module that cannot be parsed.
var ErrMalformed = errors.New("malformed WebAssembly binary")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Section ids used by the rewrites.
const (
	SecCustom    = 0
	SecType      = 1
	SecImport    = 2
	SecFunction  = 3
	SecMemory    = 5
	SecGlobal    = 6
	SecExport    = 7
	SecCode      = 10
	SecData      = 11
	SecDataCount = 12
)

// Section is one section of a module: its id and its body, a slice of the module.
type Section struct {
	ID   byte
	Body []byte
}

// Sections splits a WebAssembly 1.0 binary into its sections.
func Sections(module []byte) ([]Section, error) {
	if len(module) < 8 || string(module[:4]) != "\x00asm" || string(module[4:8]) != "\x01\x00\x00\x00" {
		return nil, bad("not a WebAssembly 1.0 binary")
	}
	var secs []Section
	for r := (Reader{B: module, Pos: 8}); !r.Done(); {
		id := r.Byte()
		n := r.U32()
		body := r.Bytes(int(n))
		if r.Err != nil {
			return nil, r.Err
		}
		secs = append(secs, Section{id, body})
	}
	return secs, nil
}

// AppendSection appends a section with its id and size.
func AppendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = AppendU32(out, uint32(len(body)))
	return append(out, body...)
}

// Reader reads values from B starting at Pos. The first error sticks in Err; reads after it
// return zero values, so a parse checks Err once per item rather than after every read.
type Reader struct {
	B   []byte
	Pos int
	Err error
}

// Done reports whether the input is used up or an error occurred.
func (r *Reader) Done() bool { return r.Pos >= len(r.B) || r.Err != nil }

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.Err != nil {
		return 0
	}
	if r.Pos >= len(r.B) {
		r.Err = bad("unexpected end at byte %d", r.Pos)
		return 0
	}
	c := r.B[r.Pos]
	r.Pos++
	return c
}

// Bytes reads n bytes, returned as a slice of the input.
func (r *Reader) Bytes(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || n > len(r.B)-r.Pos {
		r.Err = bad("length %d past the end at byte %d", n, r.Pos)
		return nil
	}
	b := r.B[r.Pos : r.Pos+n]
	r.Pos += n
	return b
}

// U32 reads an unsigned LEB128 u32.
func (r *Reader) U32() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				r.Err = bad("u32 overflow at byte %d", r.Pos)
				return 0
			}
			return uint32(v)
		}
	}
	r.Err = bad("LEB128 too long at byte %d", r.Pos)
	return 0
}

// S32 reads a signed LEB128 i32.
func (r *Reader) S32() int32 {
	var v int64
	for shift := 0; shift < 35; shift += 7 {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		v |= int64(c&0x7F) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			if v < -1<<31 || v > 1<<31-1 {
				r.Err = bad("i32 overflow at byte %d", r.Pos)
				return 0
			}
			return int32(v)
		}
	}
	r.Err = bad("LEB128 too long at byte %d", r.Pos)
	return 0
}

// S64 skips a signed LEB128 of up to 64 bits.
func (r *Reader) S64() {
	for n := 0; n < 10; n++ {
		c := r.Byte()
		if r.Err != nil || c&0x80 == 0 {
			return
		}
	}
	r.Err = bad("LEB128 too long at byte %d", r.Pos)
}

// Name reads a length-prefixed name.
func (r *Reader) Name() []byte { return r.Bytes(int(r.U32())) }

// Limits skips a limits pair (flags, min, optional max).
func (r *Reader) Limits() {
	flags := r.Byte()
	r.U32()
	if flags&1 != 0 {
		r.U32()
	}
}

// BlockType skips a block type: 0x40, a value type, or a signed 33-bit type index.
func (r *Reader) BlockType() {
	c := r.Byte()
	if c == 0x40 || (c >= 0x6F && c <= 0x7F) {
		return
	}
	r.Pos--
	r.S64()
}

// AppendU32 appends v as unsigned LEB128, then tail.
func AppendU32(b []byte, v uint32, tail ...byte) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		b = append(b, c)
		return append(b, tail...)
	}
}

// AppendS32 appends v as signed LEB128.
func AppendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendName appends a length-prefixed name.
func AppendName(b []byte, s string) []byte {
	b = AppendU32(b, uint32(len(s)))
	return append(b, s...)
}
