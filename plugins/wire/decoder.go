package wire

import (
	"encoding/binary"
	"unsafe"
)

// Decoder reads one JSON document in a single pass, validating as it goes, for decoders of
// known shapes (requests, verdicts). Inside a wasm guest every loop iteration and call costs a
// deadline check, so it scans each byte once, strings eight bytes at a time, and hands out
// strings that alias the input instead of copying them.
//
// Strings from String alias the input: they are valid only while the input is. The SDK's
// requests live in the plugin's mailbox, so a plugin that keeps a request string past the
// call must copy it (strings.Clone).
type Decoder struct {
	// Copy makes String return copies instead of aliasing the input (the host's choice:
	// its buffers are reused after a decision).
	Copy  bool
	d     []byte
	i     int
	err   error
	depth int
	// open[depth] is true right after '{' (no member read yet)
	open [MaxDepth + 1]bool
}

// NewDecoder starts decoding data.
func NewDecoder(data []byte) Decoder { return Decoder{d: data} }

// Err is the first error met, if any.
func (dc *Decoder) Err() error { return dc.err }

func (dc *Decoder) fail(err error) {
	if dc.err == nil {
		dc.err = syntaxAt(dc.i, err)
	}
}

func (dc *Decoder) space() {
	for dc.i < len(dc.d) {
		switch dc.d[dc.i] {
		case ' ', '\t', '\n', '\r':
			dc.i++
		default:
			return
		}
	}
}

// Peek reports the kind of the next value without consuming it.
func (dc *Decoder) Peek() Kind {
	dc.space()
	if dc.err != nil || dc.i >= len(dc.d) {
		return Invalid
	}
	switch c := dc.d[dc.i]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// Object enters an object; it reports false (and records an error) if the next value is not
// one. Follow it with a NextField loop.
func (dc *Decoder) Object() bool {
	dc.space()
	if dc.err != nil {
		return false
	}
	if dc.i >= len(dc.d) || dc.d[dc.i] != '{' {
		dc.fail(ErrSyntax)
		return false
	}
	if dc.depth >= MaxDepth {
		dc.fail(ErrDepth)
		return false
	}
	dc.i++
	dc.depth++
	dc.open[dc.depth] = true
	return true
}

// NextField advances to the next member of the current object and returns its key (raw: a
// key with escapes is compared in its escaped form), or false at the object's end.
func (dc *Decoder) NextField() ([]byte, bool) {
	dc.space()
	if dc.err != nil || dc.i >= len(dc.d) {
		dc.fail(ErrSyntax)
		return nil, false
	}
	if dc.d[dc.i] == '}' {
		dc.i++
		dc.depth--
		return nil, false
	}
	if dc.open[dc.depth] {
		dc.open[dc.depth] = false
	} else {
		if dc.d[dc.i] != ',' {
			dc.fail(ErrSyntax)
			return nil, false
		}
		dc.i++
		dc.space()
	}
	if dc.i >= len(dc.d) || dc.d[dc.i] != '"' {
		dc.fail(ErrSyntax)
		return nil, false
	}
	key, ok := dc.rawString()
	if !ok {
		return nil, false
	}
	dc.space()
	if dc.i >= len(dc.d) || dc.d[dc.i] != ':' {
		dc.fail(ErrSyntax)
		return nil, false
	}
	dc.i++
	return key, true
}

// rawString consumes the string whose opening quote is at dc.i and returns its body,
// escapes left as written.
func (dc *Decoder) rawString() ([]byte, bool) {
	start := dc.i + 1
	end, err := scanString(dc.d, dc.i)
	if err != nil {
		dc.err = err
		return nil, false
	}
	dc.i = end
	return dc.d[start : end-1], true
}

// Skip consumes the next value, whatever it is, and returns its raw bytes.
func (dc *Decoder) Skip() []byte {
	dc.space()
	if dc.err != nil {
		return nil
	}
	start := dc.i
	_, end, err := scanValue(dc.d, dc.i, dc.depth)
	if err != nil {
		dc.err = err
		return nil
	}
	dc.i = end
	return dc.d[start:end]
}

// String consumes a string value (null reads as ""). Without escapes the result aliases the
// input; with escapes it is a new string.
func (dc *Decoder) String() string {
	b, ok := dc.stringBytes()
	if !ok || len(b) == 0 {
		return ""
	}
	if dc.Copy {
		return string(b)
	}
	return unsafe.String(&b[0], len(b))
}

func (dc *Decoder) stringBytes() ([]byte, bool) {
	dc.space()
	if dc.err != nil || dc.i >= len(dc.d) {
		dc.fail(ErrSyntax)
		return nil, false
	}
	if dc.d[dc.i] == 'n' {
		dc.Skip()
		return nil, dc.err == nil
	}
	if dc.d[dc.i] != '"' {
		dc.fail(errWrongType(String))
		return nil, false
	}
	body, ok := dc.rawString()
	if !ok {
		return nil, false
	}
	for _, c := range body {
		if c == '\\' {
			return unescape(make([]byte, 0, len(body)), body), true
		}
	}
	return body, true
}

// Bool consumes a boolean value (null reads as false).
func (dc *Decoder) Bool() bool {
	dc.space()
	if dc.err != nil || dc.i >= len(dc.d) {
		dc.fail(ErrSyntax)
		return false
	}
	switch dc.d[dc.i] {
	case 't':
		if _, end, err := literal(dc.d, dc.i, "true", Bool); err == nil {
			dc.i = end
			return true
		}
	case 'f':
		if _, end, err := literal(dc.d, dc.i, "false", Bool); err == nil {
			dc.i = end
			return false
		}
	case 'n':
		dc.Skip()
		return false
	}
	dc.fail(errWrongType(Bool))
	return false
}

// Int consumes an integral number value that fits in int64 (null reads as 0).
func (dc *Decoder) Int() int64 {
	raw := dc.Skip()
	if dc.err != nil {
		return 0
	}
	v := Value{Kind: Number, Raw: raw}
	if len(raw) > 0 && raw[0] == 'n' {
		return 0
	}
	n, ok := v.Int()
	if !ok {
		dc.fail(errWrongType(Number))
	}
	return n
}

// End checks that the document has nothing after its value.
func (dc *Decoder) End() error {
	dc.space()
	if dc.err == nil && dc.i != len(dc.d) {
		dc.fail(ErrTrailing)
	}
	return dc.err
}

type wrongType struct{ want Kind }

func (e wrongType) Error() string { return "JSON value is not a " + e.want.String() }

func errWrongType(k Kind) error { return wrongType{want: k} }

// SWAR constants: eight copies of a byte.
const (
	lsb   = 0x0101010101010101
	msb   = 0x8080808080808080
	quote = '"' * lsb
	bksl  = '\\' * lsb
	ctl   = 0x20 * lsb
)

// plain8 reports whether the 8 bytes at d[i:] are all printable ASCII other than '"' and
// '\\', i.e. can be skipped inside a string in one step.
func plain8(d []byte, i int) bool { return plainWord(binary.LittleEndian.Uint64(d[i : i+8])) }

// plainWord reports whether no byte of x is '"', '\\', a control character or non-ASCII.
func plainWord(x uint64) bool {
	special := (x ^ quote - lsb) &^ (x ^ quote) // a zero byte where x has '"'
	special |= (x ^ bksl - lsb) &^ (x ^ bksl)
	special |= x - ctl // borrow into the top bit where a byte is < 0x20 ...
	special &^= x      // ... and only where that byte did not already have its top bit set
	return (special|x)&msb == 0
}
