package wire

import (
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// TestDecoderObject decodes a request-shaped object field by field, the way the protocol
// decoders do, and checks every typed read and the raw keys.
func TestDecoderObject(t *testing.T) {
	doc := []byte(` { "name" : "x", "n":-12, "ok":true, "no":false, "skip":[1,{"a":[2]}],
		"nil":null, "esc":"a\nb\u00e9", "k\u0065y":"raw key", "obj":{"inner":7} } `)
	dc := NewDecoder(doc)
	if k := dc.Peek(); k != Object {
		t.Fatalf("Peek = %v, want object", k)
	}
	if !dc.Object() {
		t.Fatalf("Object: %v", dc.Err())
	}
	var keys []string
	for {
		k, ok := dc.NextField()
		if !ok {
			break
		}
		keys = append(keys, string(k))
		switch string(k) {
		case "name":
			if s := dc.String(); s != "x" {
				t.Errorf("name = %q", s)
			}
		case "n":
			if n := dc.Int(); n != -12 {
				t.Errorf("n = %d", n)
			}
		case "ok":
			if !dc.Bool() {
				t.Error("ok = false")
			}
		case "no":
			if dc.Bool() {
				t.Error("no = true")
			}
		case "skip":
			if raw := dc.Skip(); string(raw) != `[1,{"a":[2]}]` {
				t.Errorf("Skip = %q", raw)
			}
		case "nil":
			if k := dc.Peek(); k != Null {
				t.Errorf("Peek(null) = %v", k)
			}
			if s := dc.String(); s != "" {
				t.Errorf("null string = %q", s)
			}
		case "esc":
			if s := dc.String(); s != "a\nbé" {
				t.Errorf("esc = %q", s)
			}
		case `k\u0065y`:
			if s := dc.String(); s != "raw key" {
				t.Errorf("escaped key's value = %q", s)
			}
		case "obj":
			if !dc.Object() {
				t.Fatal(dc.Err())
			}
			if k, ok := dc.NextField(); !ok || string(k) != "inner" || dc.Int() != 7 {
				t.Errorf("inner field = %q, %v", k, ok)
			}
			if _, ok := dc.NextField(); ok {
				t.Error("inner object has a second member")
			}
		default:
			t.Errorf("unexpected key %q", k)
		}
	}
	if err := dc.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	want := `name,n,ok,no,skip,nil,esc,k\u0065y,obj`
	if got := strings.Join(keys, ","); got != want {
		t.Fatalf("keys = %s, want %s (keys are raw)", got, want)
	}
}

// TestDecoderNulls checks that null reads as the zero value for every typed read, which is
// how optional request fields are written by other-language hosts.
func TestDecoderNulls(t *testing.T) {
	dc := NewDecoder([]byte(`{"s":null,"b":null,"i":null}`))
	dc.Object()
	dc.NextField()
	s := dc.String()
	dc.NextField()
	b := dc.Bool()
	dc.NextField()
	i := dc.Int()
	if _, ok := dc.NextField(); ok {
		t.Fatal("extra field")
	}
	if err := dc.End(); err != nil || s != "" || b || i != 0 {
		t.Fatalf("nulls read as %q, %v, %d (err %v)", s, b, i, err)
	}
}

// TestDecoderErrors checks that a wrong type or bad syntax is an error (never a silent zero)
// and that End catches trailing data.
func TestDecoderErrors(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		read func(dc *Decoder)
		want error // a sentinel, or wrongType{} for a type mismatch
	}{
		{"string from number", `1`, func(dc *Decoder) { _ = dc.String() }, wrongType{String}},
		{"string from object", `{}`, func(dc *Decoder) { _ = dc.String() }, wrongType{String}},
		{"bool from string", `"true"`, func(dc *Decoder) { dc.Bool() }, wrongType{Bool}},
		{"bool from number", `1`, func(dc *Decoder) { dc.Bool() }, wrongType{Bool}},
		{"bool from truncated", `tru`, func(dc *Decoder) { dc.Bool() }, wrongType{Bool}},
		{"bool from bad null", `nul`, func(dc *Decoder) { dc.Bool() }, ErrSyntax},
		{"int from string", `"5"`, func(dc *Decoder) { dc.Int() }, wrongType{Number}},
		{"int from fraction", `1.5`, func(dc *Decoder) { dc.Int() }, wrongType{Number}},
		{"int from exponent", `1e3`, func(dc *Decoder) { dc.Int() }, wrongType{Number}},
		{"int overflow", `9223372036854775808`, func(dc *Decoder) { dc.Int() }, wrongType{Number}},
		{"int from bool", `true`, func(dc *Decoder) { dc.Int() }, wrongType{Number}},
		{"int bad number", `01`, func(dc *Decoder) { dc.Int() }, ErrTrailing},
		{"object from array", `[]`, func(dc *Decoder) { dc.Object() }, ErrSyntax},
		{"object from empty", ``, func(dc *Decoder) { dc.Object() }, ErrSyntax},
		{"string empty input", ``, func(dc *Decoder) { _ = dc.String() }, ErrSyntax},
		{"bool empty input", ` `, func(dc *Decoder) { dc.Bool() }, ErrSyntax},
		{"skip empty input", ``, func(dc *Decoder) { dc.Skip() }, ErrSyntax},
		{"string bad utf8", "\"a\xffb\"", func(dc *Decoder) { _ = dc.String() }, ErrUTF8},
		{"string control", "\"a\x01\"", func(dc *Decoder) { _ = dc.String() }, ErrSyntax},
		{"string bad escape", `"\x"`, func(dc *Decoder) { _ = dc.String() }, ErrSyntax},
		{"string unterminated", `"abcdefghijk`, func(dc *Decoder) { _ = dc.String() }, ErrSyntax},
		{"skip bad number", `-`, func(dc *Decoder) { dc.Skip() }, ErrSyntax},
		{"trailing after string", `"a" "b"`, func(dc *Decoder) { _ = dc.String() }, ErrTrailing},
		{"trailing after object", `{} x`, func(dc *Decoder) { walkObject(dc) }, ErrTrailing},
		{"trailing brace", `{}}`, func(dc *Decoder) { walkObject(dc) }, ErrTrailing},
		{"unclosed object", `{"a":1`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"trailing comma", `{"a":1,}`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"leading comma", `{,"a":1}`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"missing comma", `{"a":1 "b":2}`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"missing colon", `{"a" 1}`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"number key", `{1:1}`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"missing value", `{"a":}`, func(dc *Decoder) { walkObject(dc) }, ErrSyntax},
		{"bad key utf8", "{\"\xff\":1}", func(dc *Decoder) { walkObject(dc) }, ErrUTF8},
		{"too deep objects", nestedObjects(MaxDepth + 1), func(dc *Decoder) { walk(dc) }, ErrDepth},
		{"too deep in skip", `{"a":` + nested(MaxDepth, "[", "]") + `}`, func(dc *Decoder) { walkObject(dc) }, ErrDepth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dc := NewDecoder([]byte(c.doc))
			c.read(&dc)
			err := dc.End()
			if wt, ok := c.want.(wrongType); ok {
				var got wrongType
				if !errors.As(err, &got) || got != wt {
					t.Fatalf("error = %v, want %q", err, wt.Error())
				}
			} else if !errors.Is(err, c.want) {
				t.Fatalf("error = %v, want %v", err, c.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v carries no offset", err)
			}
			if dc.Err() != err {
				t.Fatalf("Err() = %v, End() = %v", dc.Err(), err)
			}
		})
	}
}

// TestDecoderDepthLimit: the decoder allows exactly MaxDepth levels, like Parse, so the two
// agree on every document.
func TestDecoderDepthLimit(t *testing.T) {
	dc := NewDecoder([]byte(nestedObjects(MaxDepth)))
	walk(&dc)
	if err := dc.End(); err != nil {
		t.Fatalf("MaxDepth levels refused: %v", err)
	}
	dc = NewDecoder([]byte(`{"a":` + nested(MaxDepth-1, "[", "]") + `}`))
	walkObject(&dc)
	if err := dc.End(); err != nil {
		t.Fatalf("MaxDepth levels through Skip refused: %v", err)
	}
}

// TestDecoderFirstErrorSticks: after an error every read returns a zero value and the first
// error stays, so a decoder can check Err once at the end.
func TestDecoderFirstErrorSticks(t *testing.T) {
	dc := NewDecoder([]byte(`{"a":1,"b":"x"}`))
	dc.Object()
	dc.NextField()
	_ = dc.String() // wrong type: a number
	first := dc.Err()
	if first == nil {
		t.Fatal("no error for a number read as a string")
	}
	if k, ok := dc.NextField(); ok || k != nil {
		t.Fatalf("NextField after an error = %q, %v", k, ok)
	}
	if s := dc.String(); s != "" {
		t.Fatalf("String after an error = %q", s)
	}
	if dc.Skip() != nil || dc.Bool() || dc.Int() != 0 || dc.Object() || dc.Peek() != Invalid {
		t.Fatal("reads after an error returned values")
	}
	if err := dc.End(); err != first {
		t.Fatalf("End = %v, want the first error %v", err, first)
	}
}

// TestDecoderPeek checks Peek for every kind, that it consumes nothing, and Invalid at the
// end or on garbage.
func TestDecoderPeek(t *testing.T) {
	cases := []struct {
		doc  string
		want Kind
	}{
		{`{}`, Object}, {`[]`, Array}, {`"s"`, String}, {`true`, Bool}, {`false`, Bool},
		{`null`, Null}, {`-1`, Number}, {`7`, Number}, {`  `, Invalid}, {``, Invalid},
		{`x`, Invalid}, {`}`, Invalid}, {`+1`, Invalid},
	}
	for _, c := range cases {
		dc := NewDecoder([]byte(c.doc))
		if k := dc.Peek(); k != c.want {
			t.Errorf("Peek(%q) = %v, want %v", c.doc, k, c.want)
		}
		if k := dc.Peek(); k != c.want {
			t.Errorf("second Peek(%q) = %v: the first consumed input", c.doc, k)
		}
		if c.want != Invalid {
			dc.Skip()
			if err := dc.End(); err != nil {
				t.Errorf("Skip after Peek(%q): %v", c.doc, err)
			}
		}
	}
}

// TestDecoderStringAliasing checks the documented ownership: without Copy a string with no
// escapes points into the input; with Copy, or with escapes, it does not.
func TestDecoderStringAliasing(t *testing.T) {
	doc := []byte(`{"a":"plain","b":"with\tescape"}`)
	inDoc := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		base := uintptr(unsafe.Pointer(&doc[0]))
		return p >= base && p < base+uintptr(len(doc))
	}
	for _, copyStrings := range []bool{false, true} {
		dc := NewDecoder(doc)
		dc.Copy = copyStrings
		dc.Object()
		dc.NextField()
		plain := dc.String()
		dc.NextField()
		esc := dc.String()
		if _, more := dc.NextField(); more {
			t.Fatal("a third member")
		}
		if err := dc.End(); plain != "plain" || esc != "with\tescape" || err != nil {
			t.Fatalf("Copy=%v: read %q, %q, %v", copyStrings, plain, esc, err)
		}
		if inDoc(plain) == copyStrings {
			t.Errorf("Copy=%v: plain string aliases the input = %v", copyStrings, inDoc(plain))
		}
		if inDoc(esc) {
			t.Errorf("Copy=%v: escaped string aliases the input", copyStrings)
		}
	}
}

// TestDecoderTopLevel checks non-object documents read with the scalar reads and End.
func TestDecoderTopLevel(t *testing.T) {
	dc := NewDecoder([]byte(" \"x\" \n"))
	if s := dc.String(); s != "x" || dc.End() != nil {
		t.Fatalf("String = %q, End = %v", s, dc.End())
	}
	dc = NewDecoder([]byte("-9223372036854775807"))
	if n := dc.Int(); n != -(1<<63-1) || dc.End() != nil {
		t.Fatalf("Int = %d, End = %v", n, dc.End())
	}
	dc = NewDecoder([]byte("[1, [2], {\"a\":3}]"))
	if raw := dc.Skip(); string(raw) != "[1, [2], {\"a\":3}]" || dc.End() != nil {
		t.Fatalf("Skip = %q, End = %v", raw, dc.End())
	}
}

// TestDecoderAllocs: reading a typical object without escapes allocates nothing, the point
// of the decoder inside a guest.
func TestDecoderAllocs(t *testing.T) {
	doc := []byte(`{"group":"family","isMain":false,"n":42,"skip":{"x":[1,2,3]},"s":null}`)
	allocs := testing.AllocsPerRun(100, func() {
		dc := NewDecoder(doc)
		dc.Object()
		for {
			k, ok := dc.NextField()
			if !ok {
				break
			}
			switch string(k) {
			case "group", "s":
				_ = dc.String()
			case "isMain":
				_ = dc.Bool()
			case "n":
				_ = dc.Int()
			default:
				dc.Skip()
			}
		}
		if dc.End() != nil {
			panic(dc.Err())
		}
	})
	if allocs != 0 {
		t.Fatalf("decoding allocated %v times per run, want 0", allocs)
	}
}

// walkObject reads one object, skipping every member's value.
func walkObject(dc *Decoder) {
	if !dc.Object() {
		return
	}
	for {
		if _, ok := dc.NextField(); !ok {
			return
		}
		dc.Skip()
	}
}

// walk reads any value, entering nested objects through Object and NextField.
func walk(dc *Decoder) {
	if dc.Peek() != Object {
		dc.Skip()
		return
	}
	if !dc.Object() {
		return
	}
	for {
		if _, ok := dc.NextField(); !ok {
			return
		}
		walk(dc)
	}
}

// FuzzDecoder walks any input both flat (Skip every member) and recursively (Object for
// every nested object). Neither may panic, and each must accept exactly what Parse accepts,
// since the protocol decoders and Parse guard the same boundary.
func FuzzDecoder(f *testing.F) {
	parseSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, perr := Parse(data)

		dc := NewDecoder(data)
		walk(&dc)
		if err := dc.End(); (err == nil) != (perr == nil) {
			t.Fatalf("recursive walk error = %v, Parse error = %v, for %q", err, perr, data)
		}

		dc = NewDecoder(data)
		if dc.Peek() == Object {
			walkObject(&dc)
		} else {
			dc.Skip()
		}
		if err := dc.End(); (err == nil) != (perr == nil) {
			t.Fatalf("flat walk error = %v, Parse error = %v, for %q", err, perr, data)
		}

		// Typed reads on arbitrary input must not panic either.
		dc = NewDecoder(data)
		dc.Copy = len(data)%2 == 0
		if dc.Object() {
			for i := 0; ; i++ {
				if _, ok := dc.NextField(); !ok {
					break
				}
				switch i % 4 {
				case 0:
					_ = dc.String()
				case 1:
					_ = dc.Bool()
				case 2:
					_ = dc.Int()
				default:
					dc.Skip()
				}
			}
		}
		_ = dc.End()
	})
}
