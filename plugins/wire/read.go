// Package wire is the reflection-free JSON codec that policy requests and verdicts travel in.
//
// It exists because encoding/json inside a Go wasm guest costs about 120 µs per small request
// (reflection, allocation), while a policy decision must stay in the tens of microseconds with
// deadline checks on every loop back-edge. The reader validates strictly (RFC 8259, valid
// UTF-8, bounded nesting) and hands out values that alias the input, so reading a request
// allocates nothing. Host and guests share this package, so both ends agree byte for byte.
package wire

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// MaxDepth bounds nesting so a hostile document cannot exhaust the stack.
const MaxDepth = 64

// Kind is the JSON type of a Value.
type Kind uint8

// The JSON kinds. Invalid is the zero Value's kind, used for "absent".
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"absent", "null", "boolean", "number", "string", "array", "object"}

// String names the kind as error messages should say it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Value is one JSON value: its kind and its raw bytes, aliasing the parsed document.
type Value struct {
	Kind Kind
	Raw  []byte
}

// Errors the reader returns; wrapped with the offset where they happened.
var (
	ErrSyntax   = errors.New("invalid JSON")
	ErrDepth    = errors.New("JSON nested too deeply")
	ErrUTF8     = errors.New("JSON string is not valid UTF-8")
	ErrTrailing = errors.New("data after the JSON value")
)

// SyntaxError says what was wrong and where.
type SyntaxError struct {
	Offset int
	Err    error
}

func (e *SyntaxError) Error() string {
	return e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Parse validates data as exactly one JSON value (surrounding whitespace allowed).
func Parse(data []byte) (Value, error) {
	i := skipSpace(data, 0)
	start := i
	kind, end, err := scanValue(data, i, 0)
	if err != nil {
		return Value{}, err
	}
	if j := skipSpace(data, end); j != len(data) {
		return Value{}, &SyntaxError{Offset: j, Err: ErrTrailing}
	}
	return Value{Kind: kind, Raw: data[start:end]}, nil
}

// EachField calls fn for every member of an object value, in document order. The value must
// come from Parse (or be a member of one), so it is known to be well formed.
func (v Value) EachField(fn func(key []byte, val Value) bool) {
	if v.Kind != Object {
		return
	}
	d := v.Raw
	i := skipSpace(d, 1)
	for i < len(d) && d[i] != '}' {
		kEnd := endOfString(d, i)
		key := d[i+1 : kEnd-1]
		i = skipSpace(d, kEnd)
		i = skipSpace(d, i+1) // ':'
		kind, end, _ := scanValue(d, i, 0)
		if !fn(key, Value{Kind: kind, Raw: d[i:end]}) {
			return
		}
		i = skipSpace(d, end)
		if i < len(d) && d[i] == ',' {
			i = skipSpace(d, i+1)
		}
	}
}

// EachElem calls fn for every element of an array value.
func (v Value) EachElem(fn func(val Value) bool) {
	if v.Kind != Array {
		return
	}
	d := v.Raw
	i := skipSpace(d, 1)
	for i < len(d) && d[i] != ']' {
		kind, end, _ := scanValue(d, i, 0)
		if !fn(Value{Kind: kind, Raw: d[i:end]}) {
			return
		}
		i = skipSpace(d, end)
		if i < len(d) && d[i] == ',' {
			i = skipSpace(d, i+1)
		}
	}
}

// Field returns the member named key (its escaped form must equal key; keys with escapes
// are compared after unescaping only when they contain a backslash). The zero Value means
// absent.
func (v Value) Field(key string) Value {
	var out Value
	v.EachField(func(k []byte, val Value) bool {
		if keyEqual(k, key) {
			out = val
			return false
		}
		return true
	})
	return out
}

func keyEqual(raw []byte, key string) bool {
	for _, c := range raw {
		if c == '\\' {
			var buf [128]byte
			return string(unescape(buf[:0], raw)) == key
		}
	}
	return string(raw) == key
}

// Bool reports the value of a boolean; ok is false for any other kind.
func (v Value) Bool() (val, ok bool) {
	if v.Kind != Bool {
		return false, false
	}
	return v.Raw[0] == 't', true
}

// Int reports an integral number that fits in int64; ok is false otherwise.
func (v Value) Int() (int64, bool) {
	if v.Kind != Number {
		return 0, false
	}
	// Accumulate the magnitude as a uint64 so that -9223372036854775808 fits.
	var n uint64
	neg := false
	r := v.Raw
	if r[0] == '-' {
		neg = true
		r = r[1:]
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit = 1 << 63
	}
	for _, c := range r {
		if c < '0' || c > '9' {
			return 0, false // fraction or exponent
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return int64(-n), true
	}
	return int64(n), true
}

// Float reports any number as a float64.
func (v Value) Float() (float64, bool) {
	if v.Kind != Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v.Raw), 64)
	return f, err == nil
}

// StringBytes appends the unescaped content of a string value to dst. Without escapes it
// returns a slice of the document itself and dst is untouched, so the common case is free.
func (v Value) StringBytes(dst []byte) ([]byte, bool) {
	if v.Kind != String {
		return dst, false
	}
	body := v.Raw[1 : len(v.Raw)-1]
	for _, c := range body {
		if c == '\\' {
			return unescape(dst, body), true
		}
	}
	return body, true
}

// Str returns the unescaped content of a string value as a new string.
func (v Value) Str() (string, bool) {
	b, ok := v.StringBytes(nil)
	return string(b), ok
}

func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func syntaxAt(i int, err error) error { return &SyntaxError{Offset: i, Err: err} }

// scanValue checks the value starting at d[i] and returns its kind and end offset.
func scanValue(d []byte, i, depth int) (Kind, int, error) {
	if i >= len(d) {
		return Invalid, i, syntaxAt(i, ErrSyntax)
	}
	switch c := d[i]; {
	case c == '{':
		if depth >= MaxDepth {
			return Invalid, i, syntaxAt(i, ErrDepth)
		}
		end, err := scanObject(d, i, depth+1)
		return Object, end, err
	case c == '[':
		if depth >= MaxDepth {
			return Invalid, i, syntaxAt(i, ErrDepth)
		}
		end, err := scanArray(d, i, depth+1)
		return Array, end, err
	case c == '"':
		end, err := scanString(d, i)
		return String, end, err
	case c == 't':
		return literal(d, i, "true", Bool)
	case c == 'f':
		return literal(d, i, "false", Bool)
	case c == 'n':
		return literal(d, i, "null", Null)
	case c == '-' || (c >= '0' && c <= '9'):
		end, err := scanNumber(d, i)
		return Number, end, err
	}
	return Invalid, i, syntaxAt(i, ErrSyntax)
}

func literal(d []byte, i int, word string, k Kind) (Kind, int, error) {
	if len(d)-i < len(word) || string(d[i:i+len(word)]) != word {
		return Invalid, i, syntaxAt(i, ErrSyntax)
	}
	return k, i + len(word), nil
}

func scanObject(d []byte, i, depth int) (int, error) {
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return i, syntaxAt(i, ErrSyntax)
		}
		end, err := scanString(d, i)
		if err != nil {
			return end, err
		}
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return i, syntaxAt(i, ErrSyntax)
		}
		i = skipSpace(d, i+1)
		if _, i, err = scanValue(d, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, syntaxAt(i, ErrSyntax)
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, syntaxAt(i, ErrSyntax)
		}
	}
}

func scanArray(d []byte, i, depth int) (int, error) {
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if _, i, err = scanValue(d, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, syntaxAt(i, ErrSyntax)
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, syntaxAt(i, ErrSyntax)
		}
	}
}

// scanString checks a string starting at the quote d[i] and returns the offset after its
// closing quote. It rejects control characters, bad escapes and invalid UTF-8.
func scanString(d []byte, i int) (int, error) {
	i++
	for i < len(d) {
		if i+8 <= len(d) && plain8(d, i) {
			i += 8
			continue
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(d) {
				return i, syntaxAt(i, ErrSyntax)
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(d)-i < 6 || !isHex4(d[i+2:i+6]) {
					return i, syntaxAt(i, ErrSyntax)
				}
				i += 6
			default:
				return i, syntaxAt(i, ErrSyntax)
			}
		case c < 0x20:
			return i, syntaxAt(i, ErrSyntax)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return i, syntaxAt(i, ErrUTF8)
			}
			i += size
		}
	}
	return i, syntaxAt(i, ErrSyntax)
}

// endOfString is scanString for input already validated.
func endOfString(d []byte, i int) int {
	i++
	for i < len(d) {
		switch d[i] {
		case '"':
			return i + 1
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return i
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func scanNumber(d []byte, i int) (int, error) {
	start := i
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return i, syntaxAt(start, ErrSyntax)
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return i, syntaxAt(start, ErrSyntax)
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return i, syntaxAt(start, ErrSyntax)
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	return i, nil
}

// unescape appends the decoded form of a validated string body to dst. Lone surrogates
// become U+FFFD, as encoding/json does.
func unescape(dst, body []byte) []byte {
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch body[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(body[i+2:])
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
				if r2 := hex4(body[i+2:]); r2 >= 0xDC00 && r2 < 0xE000 {
					r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
					i += 6
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, body[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// DuplicateKey reports the first object member name that appears twice in one object,
// anywhere inside v. JSON readers disagree on duplicates (this package takes the first,
// encoding/json the last), so a request that repeats a key can mean one thing to the policy
// that authorizes it and another to the code that performs it: refuse such requests.
func (v Value) DuplicateKey() (string, bool) {
	var dup string
	var walk func(Value) bool
	walk = func(v Value) bool {
		switch v.Kind {
		case Object:
			var seen []string
			v.EachField(func(k []byte, val Value) bool {
				name := string(unescapeKey(k))
				for _, s := range seen {
					if s == name {
						dup = name
						return false
					}
				}
				seen = append(seen, name)
				return walk(val)
			})
		case Array:
			v.EachElem(walk)
		}
		return dup == ""
	}
	walk(v)
	return dup, dup != ""
}

// UnescapeKey returns an object key as EachField or Decoder.NextField hand it over (raw,
// escapes as written) with its escapes decoded: k itself when it has none, else a copy.
func UnescapeKey(k []byte) []byte { return unescapeKey(k) }

func unescapeKey(k []byte) []byte {
	for _, c := range k {
		if c == '\\' {
			return unescape(nil, k)
		}
	}
	return k
}
