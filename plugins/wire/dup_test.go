package wire

import "testing"

func TestDuplicateKey(t *testing.T) {
	cases := []struct {
		doc  string
		key  string
		dups bool
	}{
		{`{"a":1,"b":2}`, "", false},
		{`{"a":1,"a":2}`, "a", true},
		{`{"a":1,"\u0061":2}`, "a", true},
		{`{"x":{"a":1,"a":2}}`, "a", true},
		{`{"x":[{"b":1},{"b":2}]}`, "", false},
		{`{"x":[{"b":1,"b":2}]}`, "b", true},
		{`[{"c":1},{"c":1,"c":2}]`, "c", true},
		{`"just a string"`, "", false},
	}
	for _, c := range cases {
		v, err := Parse([]byte(c.doc))
		if err != nil {
			t.Fatalf("%s: %v", c.doc, err)
		}
		if k, dup := v.DuplicateKey(); dup != c.dups || k != c.key {
			t.Errorf("%s: DuplicateKey() = %q, %v; want %q, %v", c.doc, k, dup, c.key, c.dups)
		}
	}
}
