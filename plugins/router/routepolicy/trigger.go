package routepolicy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MatchTrigger reports whether content addresses the assistant through trigger. It is
// NanoClaw's new RegExp('^' + escapeRegex(trigger.trim()) + '\\b', 'i').test(content.trim())
// without a regexp: the trimmed content must start with the trimmed trigger, compared rune
// by rune under Unicode simple case folding, followed by a word boundary in JavaScript's
// sense (exactly one side of it an ASCII word character [A-Za-z0-9_]; either end of the
// string counts as a non-word character). Every character of the trigger is literal.
//
// So for "@Andy": "@Andy hello", "@andy", "@Andy's" match; "@Andyextra" and "hello @Andy"
// do not. A regexp would be compiled per trigger and allocate inside the guest; this
// allocates nothing and reads no further into content than the trigger's length plus one.
func MatchTrigger(content, trigger string) bool {
	content = jsTrim(content)
	trigger = jsTrim(trigger)
	i := 0
	prevWord := false // the start of the string is a non-word position
	for _, tr := range trigger {
		if i >= len(content) {
			return false
		}
		cr, size := utf8.DecodeRuneInString(content[i:])
		if !foldEqual(cr, tr) {
			return false
		}
		i += size
		prevWord = isWordByte(cr)
	}
	nextWord := false // so is the end
	if i < len(content) {
		nextWord = isWordByte(rune(content[i])) // a non-ASCII rune starts with a byte >= 0x80
	}
	return prevWord != nextWord
}

// isWordByte is JavaScript's \w without the u flag: ASCII letters, digits and underscore.
func isWordByte(r rune) bool {
	return r < utf8.RuneSelf && (r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
}

// foldEqual reports whether a and b are equal under Unicode simple case folding, walking
// a's fold orbit as strings.EqualFold does.
func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		return 'A' <= a && a <= 'Z' && a+'a'-'A' == b || 'A' <= b && b <= 'Z' && b+'a'-'A' == a
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// jsTrim is String.prototype.trim: it strips Unicode white space and line terminators, which
// differs from strings.TrimSpace only in U+FEFF (trimmed here) and U+0085 (kept here).
func jsTrim(s string) string {
	return strings.TrimFunc(s, isJSSpace)
}

func isJSSpace(r rune) bool {
	if r == '\uFEFF' {
		return true
	}
	return r != '\u0085' && unicode.IsSpace(r)
}
