package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// appendStringCases are strings with the output AppendString must give ("" means check only
// the properties). Special bytes sit at every offset around the 8-byte SWAR step.
var appendStringCases = []struct {
	in, want string
}{
	{"", `""`},
	{"plain", `"plain"`},
	{`"`, `"\""`},
	{`\`, `"\\"`},
	{"a\nb\rc\td", `"a\nb\rc\td"`},
	{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
	{"\b\f", `"\u0008\u000c"`},
	{"\x7f", "\"\x7f\""},
	{"/<>&", `"/<>&"`},
	{"é日本😀", `"é日本😀"`},
	{"\u2028\u2029", "\"\u2028\u2029\""},
	{"\xff", `"\ufffd"`},
	{"a\xffb", `"a\ufffdb"`},
	{"\xe6\x97", `"\ufffd\ufffd"`},
	{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
	{"\xc0\xaf", `"\ufffd\ufffd"`},
	{"abcdefgh", `"abcdefgh"`},
	{"abcdefgh\"", `"abcdefgh\""`},
	{"abcdefg\xff", `"abcdefg\ufffd"`},
	{"abcdefghijklmnop\x01q", `"abcdefghijklmnop\u0001q"`},
	{"abcdefgé" + "hijklmno", `"abcdefgéhijklmno"`},
	{strings.Repeat("x", 100), `"` + strings.Repeat("x", 100) + `"`},
}

// TestAppendString checks exact output and that the result always decodes, through both
// encoding/json and Parse, to the input (or to encoding/json's own U+FFFD repair of it).
func TestAppendString(t *testing.T) {
	for _, c := range appendStringCases {
		got := string(AppendString(nil, c.in))
		if got != c.want {
			t.Errorf("AppendString(%q) = %s, want %s", c.in, got, c.want)
		}
		checkAppendString(t, c.in)
	}
	// Every byte at every offset around the SWAR step.
	for n := 0; n < 18; n++ {
		for b := 0; b < 256; b++ {
			s := []byte(strings.Repeat("a", 17))
			s[n%17] = byte(b)
			checkAppendString(t, string(s[:max(n, 1)]))
		}
	}
}

// TestAppendStringKeepsPrefix: AppendString appends; it must not touch what dst holds.
func TestAppendStringKeepsPrefix(t *testing.T) {
	dst := []byte("prefix:")
	if got := string(AppendString(dst, "x")); got != `prefix:"x"` {
		t.Fatalf("got %s", got)
	}
}

// checkAppendString checks the properties every AppendString output must have.
func checkAppendString(t *testing.T, s string) {
	t.Helper()
	out := AppendString(nil, s)
	if !json.Valid(out) {
		t.Fatalf("AppendString(%q) = %s is not valid JSON", s, out)
	}
	if fromBytes := appendStringBytes(nil, []byte(s)); string(fromBytes) != string(out) {
		t.Fatalf("appendStringBytes(%q) = %s, AppendString = %s", s, fromBytes, out)
	}
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("encoding/json cannot decode %s: %v", out, err)
	}
	want := s
	if !utf8.ValidString(s) {
		// encoding/json replaces each invalid byte with U+FFFD; so must we.
		std, _ := json.Marshal(s)
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
	}
	if got != want {
		t.Fatalf("AppendString(%q) = %s decodes to %q, want %q", s, out, got, want)
	}
	v, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse rejects AppendString(%q) = %s: %v", s, out, err)
	}
	if str, _ := v.Str(); str != want {
		t.Fatalf("Parse reads AppendString(%q) as %q, want %q", s, str, want)
	}
}

// FuzzAppendString: for any input the output is valid JSON that decodes to the input when
// the input is valid UTF-8, and to encoding/json's repair of it otherwise.
func FuzzAppendString(f *testing.F) {
	for _, c := range appendStringCases {
		f.Add(c.in)
	}
	f.Add("\"\\\x00\x7f\x80\xff\U0010FFFF\uFFFD")
	f.Add(strings.Repeat("\\\"", 9))
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendString(t, s)
	})
}

// TestWriter builds an object with every member kind and checks that encoding/json reads
// back what was written.
func TestWriter(t *testing.T) {
	w := NewWriter(nil)
	w.String("s", "a\"b\n\xff")
	w.Bytes("b", []byte("bytes\\"))
	w.Bool("t", true)
	w.Bool("f", false)
	w.Int("min", -1<<63)
	w.Int("max", 1<<63-1)
	w.Raw("raw", []byte(`{"x":[1,2]}`))
	w.Raw("empty", nil)
	w.Strings("list", []string{"a", "", "\x01"})
	w.Strings("none", nil)
	w.Object("obj", appenderFunc(func(dst []byte) []byte {
		inner := NewWriter(dst)
		inner.String("k", "v")
		return inner.End()
	}))
	w.String("quote\"key", "v")
	out := w.End()
	want := `{"s":"a\"b\n\ufffd","b":"bytes\\","t":true,"f":false,"min":-9223372036854775808,` +
		`"max":9223372036854775807,"raw":{"x":[1,2]},"empty":null,"list":["a","","\u0001"],` +
		`"none":[],"obj":{"k":"v"},"quote\"key":"v"}`
	if string(out) != want {
		t.Fatalf("Writer wrote\n%s\nwant\n%s", out, want)
	}
	if _, err := Parse(out); err != nil {
		t.Fatalf("Parse rejects the Writer's output: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("encoding/json rejects the Writer's output: %v", err)
	}
	if m["s"] != "a\"b\n\uFFFD" || m["empty"] != nil || m["quote\"key"] != "v" {
		t.Fatalf("encoding/json read %v", m)
	}
}

// TestWriterEmptyAndPrefix: an empty object is {} and NewWriter appends to dst.
func TestWriterEmptyAndPrefix(t *testing.T) {
	w := NewWriter(nil)
	if got := string(w.End()); got != "{}" {
		t.Fatalf("empty object = %s", got)
	}
	w = NewWriter([]byte("x="))
	w.Int("a", 1)
	if got := string(w.End()); got != `x={"a":1}` {
		t.Fatalf("got %s", got)
	}
}

// TestWriterAllocs: once the buffer has grown, encoding allocates nothing.
func TestWriterAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		w := NewWriter(buf[:0])
		w.String("group", "family")
		w.Bool("isMain", false)
		w.String("hostPath", "~/projects/x\n")
		w.Int("n", 12345)
		w.Strings("l", []string{"a", "b"})
		buf = w.End()
	})
	if allocs != 0 {
		t.Fatalf("Writer allocated %v times per run, want 0", allocs)
	}
}

type appenderFunc func([]byte) []byte

func (f appenderFunc) AppendJSON(dst []byte) []byte { return f(dst) }
