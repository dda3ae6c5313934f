package routepolicy

import (
	"regexp"
	"testing"
	"unicode/utf8"
)

// NanoClaw's TRIGGER_PATTERN tests (src/formatting.test.ts) plus the edges of its regexp:
// JavaScript's \b is ASCII-only, trim() is not strings.TrimSpace, and the trigger is literal.
func TestMatchTrigger(t *testing.T) {
	tests := []struct {
		content, trigger string
		want             bool
	}{
		// formatting.test.ts: TRIGGER_PATTERN
		{"@Andy hello", "@Andy", true},
		{"@andy hello", "@Andy", true},
		{"@ANDY hello", "@Andy", true},
		{"hello @Andy", "@Andy", false},
		{"@Andyextra hello", "@Andy", false},
		{"@Andy's thing", "@Andy", true},
		{"@Andy", "@Andy", true},
		{"  @Andy hey  ", "@Andy", true},
		// the trigger is trimmed too
		{"@Andy hey", "  @Andy\t", true},
		// word boundary: only ASCII [A-Za-z0-9_] is a word character
		{"@Andy_bot hi", "@Andy", false},
		{"@Andy2 hi", "@Andy", false},
		{"@Andy, hi", "@Andy", true},
		{"@Andy\nhi", "@Andy", true},
		{"@Andyé", "@Andy", true}, // é is not \w without the u flag
		{"@And", "@Andy", false},
		{"", "@Andy", false},
		{"   ", "@Andy", false},
		// a trigger ending in a non-word character needs a word character after it
		{"@Bot+ hi", "@Bot+", false},
		{"@Bot+", "@Bot+", false},
		{"@Bot+x", "@Bot+", true},
		// regexp metacharacters are literal
		{"@C.3PO hi", "@C.3PO", true},
		{"@CX3PO hi", "@C.3PO", false},
		{"@Andy* hi", "@Andy*", false}, // '*' then ' ': no boundary, as in JavaScript
		{"@Andy hi", "@Andy*", false},
		{"[a] b", "[a]", false},
		{"(x)y", "(x)", true},
		// Unicode simple case folding
		{"@émile salut", "@Émile", true},
		{"@\u212Aai hi", "@kai", true}, // KELVIN SIGN folds to k
		{"@STRASSE hi", "@straße", false},
		// String.prototype.trim: U+FEFF is white space, U+0085 is not
		{"\uFEFF@Andy hi", "@Andy", true},
		{"\u0085@Andy hi", "@Andy", false},
		{"\u00a0\u2003@Andy hi", "@Andy", true},
		// the empty trigger is /^\b/: true iff content starts with a word character
		{"hello", "", true},
		{"@hello", "", false},
	}
	for _, tt := range tests {
		if got := MatchTrigger(tt.content, tt.trigger); got != tt.want {
			t.Errorf("MatchTrigger(%q, %q) = %v, want %v", tt.content, tt.trigger, got, tt.want)
		}
	}
}

// FuzzMatchTrigger checks MatchTrigger against Go's regexp, whose (?i) also uses simple case
// folding and whose \b is also ASCII-only: the regexp NanoClaw builds, evaluated by a
// different engine.
func FuzzMatchTrigger(f *testing.F) {
	for _, s := range [][2]string{
		{"@Andy hello", "@Andy"}, {"@Andyextra", "@Andy"}, {"@Andy's", "@Andy"},
		{"hello @Andy", "@Andy"}, {"@C.3PO x", "@C.3PO"}, {"@Bot+x", "@Bot+"},
		{"\u212A", "k"}, {"ſ", "S"}, {"\uFEFF@a", "@a"}, {"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, content, trigger string) {
		got := MatchTrigger(content, trigger) // must not panic on any input
		if !utf8.ValidString(content) || !utf8.ValidString(trigger) {
			return // the wire decoder hands the policy valid UTF-8 only
		}
		re, err := regexp.Compile(`(?i)^` + regexp.QuoteMeta(jsTrim(trigger)) + `\b`)
		if err != nil {
			t.Skip(err)
		}
		if want := re.MatchString(jsTrim(content)); got != want {
			t.Fatalf("MatchTrigger(%q, %q) = %v, regexp %v says %v", content, trigger, got, re, want)
		}
	})
}
