package wire

import (
	"strconv"
	"unicode/utf8"
)

// Writer builds one JSON object by appending to a caller-owned buffer, so encoding a request
// or a verdict allocates nothing once the buffer has grown to its working size.
type Writer struct {
	buf   []byte
	first bool
}

// NewWriter starts an object at the end of dst.
func NewWriter(dst []byte) Writer {
	return Writer{buf: append(dst, '{'), first: true}
}

func (w *Writer) key(k string) {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
	w.buf = AppendString(w.buf, k)
	w.buf = append(w.buf, ':')
}

// String writes a string member.
func (w *Writer) String(k, v string) {
	w.key(k)
	w.buf = AppendString(w.buf, v)
}

// Bytes writes a string member from bytes.
func (w *Writer) Bytes(k string, v []byte) {
	w.key(k)
	w.buf = appendStringBytes(w.buf, v)
}

// Bool writes a boolean member.
func (w *Writer) Bool(k string, v bool) {
	w.key(k)
	w.buf = strconv.AppendBool(w.buf, v)
}

// Int writes an integer member.
func (w *Writer) Int(k string, v int64) {
	w.key(k)
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

// Raw writes a member whose value is already-valid JSON (a nested document). An empty raw
// value is written as null so the output stays valid.
func (w *Writer) Raw(k string, v []byte) {
	w.key(k)
	if len(v) == 0 {
		w.buf = append(w.buf, "null"...)
		return
	}
	w.buf = append(w.buf, v...)
}

// Appender is anything that appends its own JSON encoding.
type Appender interface{ AppendJSON(dst []byte) []byte }

// Object writes a member whose value v encodes itself.
func (w *Writer) Object(k string, v Appender) {
	w.key(k)
	w.buf = v.AppendJSON(w.buf)
}

// Strings writes an array-of-strings member.
func (w *Writer) Strings(k string, v []string) {
	w.key(k)
	w.buf = append(w.buf, '[')
	for i, s := range v {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = AppendString(w.buf, s)
	}
	w.buf = append(w.buf, ']')
}

// End closes the object and returns the whole buffer.
func (w *Writer) End() []byte {
	w.buf = append(w.buf, '}')
	return w.buf
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so the output is
// always valid JSON whatever the input.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s) }

func appendStringBytes(dst, b []byte) []byte { return appendString(dst, b) }

func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8String(s, i) {
			i += 8
			continue
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// plain8String is plain8 for strings and byte slices alike.
func plain8String[T string | []byte](s T, i int) bool {
	x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
	return plainWord(x)
}
