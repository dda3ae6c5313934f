package whatsapp

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Markdown to WhatsApp formatting.
//
// Models write Markdown out of habit; WhatsApp shows it literally ("**bold**", "# Title",
// "[docs](https://...)"). FormatText rewrites the parts WhatsApp would show wrongly into
// WhatsApp's own markers and leaves everything else byte for byte:
//
//	**bold**, __bold__      -> *bold*
//	***both***              -> *_both_*
//	~~strike~~              -> ~strike~
//	_italic_, ~strike~      -> kept (already WhatsApp's)
//	*text*                  -> kept as WhatsApp bold, unless the message also uses **bold**
//	                           (then it is Markdown's italic: _text_)
//	`code`, ```code```      -> kept verbatim, nothing inside is touched
//	```lang fenced blocks   -> ``` (no language tag), content verbatim; an unclosed fence is closed
//	# .. ###### Heading     -> *Heading* (a bold line)
//	- item, * item, + item  -> • item (indentation kept; - [ ] / - [x] become ☐ / ☑)
//	1. item, > quote        -> kept (WhatsApp renders both)
//	[text](url), ![alt](url)-> text (url), or url alone when the text is the url
//	<https://x>             -> https://x
//	\*                      -> * (Markdown escapes of punctuation)
//
// It is a line-based converter rather than a CommonMark parser on purpose (see RATIONALE.md):
// the input is a mix of Markdown and WhatsApp's own markers (the group memory tells the model
// to write *bold*), and whatever is not one of the constructs above must come out unchanged.
// Emphasis never spans lines, bare URLs are never touched, and nesting is bounded.

// maxInlineDepth bounds nested emphasis and links; deeper markers are copied as they are.
const maxInlineDepth = 8

// FormatText converts the Markdown in a model's reply to WhatsApp formatting.
func FormatText(md string) string {
	if !strings.ContainsAny(md, "*_~`[]#<>\\!-+") {
		return md // nothing Markdown could mean here
	}
	f := formatter{}
	out := f.format(md)
	if f.sawStrong {
		// The message uses **bold**: it is Markdown, so a single *x* is italic.
		f = formatter{starItalic: true}
		out = f.format(md)
	}
	return out
}

// formatter is one conversion pass.
type formatter struct {
	starItalic bool // single *x* is Markdown italic (-> _x_) rather than WhatsApp bold
	sawStrong  bool // a **x** or __x__ pair was converted
}

// fence is an open fenced code block.
type fence struct {
	char byte
	n    int
}

func (f *formatter) format(md string) string {
	lines := strings.Split(md, "\n")
	var b strings.Builder
	b.Grow(len(md))
	var open *fence
	for i, line := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		if open != nil {
			if closesFence(line, *open) {
				b.WriteString("```")
				open = nil
				continue
			}
			b.WriteString(line)
			continue
		}
		if fc, ok := opensFence(line); ok {
			open = &fc
			b.WriteString("```")
			continue
		}
		b.WriteString(f.block(line))
	}
	if open != nil {
		b.WriteString("\n```") // CommonMark runs an unclosed fence to the end: close it
	}
	return b.String()
}

// leadingSpace returns the length of line's leading spaces and tabs.
func leadingSpace(line string) int {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i
}

// opensFence recognises a fence line: ``` or ~~~ (three or more), an optional info string
// (which for backticks may not hold a backtick, so ```code``` on one line stays inline).
// Any indentation is accepted, since fences inside list items are indented.
func opensFence(line string) (fence, bool) {
	s := strings.TrimRight(line[leadingSpace(line):], "\r")
	if len(s) < 3 || (s[0] != '`' && s[0] != '~') {
		return fence{}, false
	}
	c := s[0]
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	if n < 3 {
		return fence{}, false
	}
	if c == '`' && strings.IndexByte(s[n:], '`') >= 0 {
		return fence{}, false
	}
	return fence{char: c, n: n}, true
}

// closesFence is a line of at least as many of the fence's characters and nothing else.
func closesFence(line string, fc fence) bool {
	s := strings.TrimRight(line[leadingSpace(line):], " \t\r")
	if len(s) < fc.n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != fc.char {
			return false
		}
	}
	return true
}

// block converts one line outside code blocks: headings, bullets, then inline markup.
func (f *formatter) block(line string) string {
	ind := leadingSpace(line)
	rest := line[ind:]
	if isThematicBreak(rest) {
		return line
	}
	if h, ok := heading(line); ok {
		inner := f.inline(h, true, 0)
		if strings.TrimSpace(inner) == "" {
			return ""
		}
		return "*" + inner + "*"
	}
	if len(rest) >= 2 && (rest[0] == '-' || rest[0] == '*' || rest[0] == '+') && (rest[1] == ' ' || rest[1] == '\t') {
		item := strings.TrimLeft(rest[1:], " \t")
		mark := "• "
		switch {
		case strings.HasPrefix(item, "[ ] "):
			mark, item = "☐ ", item[4:]
		case strings.HasPrefix(item, "[x] "), strings.HasPrefix(item, "[X] "):
			mark, item = "☑ ", item[4:]
		}
		return line[:ind] + mark + f.inline(item, false, 0)
	}
	if q := quotePrefix(rest); q > 0 {
		return line[:ind+q] + f.block(rest[q:])
	}
	return line[:ind] + f.inline(rest, false, 0)
}

// quotePrefix is the length of a "> " blockquote marker at the start of s, or 0.
func quotePrefix(s string) int {
	if s == "" || s[0] != '>' {
		return 0
	}
	if len(s) > 1 && s[1] == ' ' {
		return 2
	}
	return 1
}

// heading returns the text of an ATX heading (up to three spaces, 1-6 #, a space or the
// end), without a closing run of #.
func heading(line string) (string, bool) {
	ind := leadingSpace(line)
	if ind > 3 || strings.ContainsRune(line[:ind], '\t') {
		return "", false
	}
	s := strings.TrimRight(line[ind:], "\r")
	n := 0
	for n < len(s) && s[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || (n < len(s) && s[n] != ' ' && s[n] != '\t') {
		return "", false
	}
	text := strings.TrimSpace(s[n:])
	// A closing sequence: spaces then only #s.
	if t := strings.TrimRight(text, "#"); t != text && (t == "" || t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
		text = strings.TrimSpace(t)
	}
	// "# *Title*" written WhatsApp-style: the line is bold already.
	if len(text) > 2 && text[0] == '*' && text[len(text)-1] == '*' && text[1] != '*' && text[1] != ' ' &&
		text[len(text)-2] != ' ' && !strings.Contains(text[1:len(text)-1], "*") {
		text = text[1 : len(text)-1]
	}
	return text, true
}

// isThematicBreak is a line of three or more -, * or _ (spaces allowed between).
func isThematicBreak(s string) bool {
	s = strings.TrimRight(s, " \t\r")
	if len(s) < 3 {
		return false
	}
	c := s[0]
	if c != '-' && c != '*' && c != '_' {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case c:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

// isPunct is ASCII punctuation, the characters a Markdown backslash escapes.
func isPunct(c byte) bool {
	return c < utf8.RuneSelf && unicode.IsPunct(rune(c)) || c == '`' || c == '^' || c == '|' || c == '~' || c == '<' || c == '>' || c == '=' || c == '+' || c == '$'
}

// runeBefore and runeAfter are the runes around s[i:j] (utf8.RuneError at the ends).
func runeBefore(s string, i int) rune {
	if i <= 0 {
		return utf8.RuneError
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

func runeAfter(s string, j int) rune {
	if j >= len(s) {
		return utf8.RuneError
	}
	r, _ := utf8.DecodeRuneInString(s[j:])
	return r
}

// isSpaceOrEdge is white space or the start/end of the line.
func isSpaceOrEdge(r rune) bool { return r == utf8.RuneError || unicode.IsSpace(r) }

// isWordRune is a letter or digit: _ between two of them is never emphasis.
func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// run is the length of the run of c starting at s[i].
func run(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

// codeSpanEnd returns the end of a code span whose opening backtick run starts at i (the
// closing run has exactly the same length), or -1.
func codeSpanEnd(s string, i int) int {
	n := run(s, i, '`')
	for j := i + n; j < len(s); {
		k := strings.IndexByte(s[j:], '`')
		if k < 0 {
			return -1
		}
		j += k
		m := run(s, j, '`')
		if m == n {
			return j + m
		}
		j += m
	}
	return -1
}

// skip returns where scanning continues after the construct at s[i] that hides markers
// (an escape, a code span, a bare URL), or i when there is none.
func skip(s string, i int) int {
	switch {
	case s[i] == '\\' && i+1 < len(s) && isPunct(s[i+1]):
		return i + 2
	case s[i] == '`':
		if e := codeSpanEnd(s, i); e > 0 {
			return e
		}
		return i + run(s, i, '`')
	case (s[i] == 'h' || s[i] == 'H') && bareURLAt(s, i):
		return i + urlLen(s[i:])
	}
	return i
}

// bareURLAt says whether an http(s) URL starts at s[i] (at a word start).
func bareURLAt(s string, i int) bool {
	if isWordRune(runeBefore(s, i)) {
		return false
	}
	rest := s[i:]
	return len(rest) > 8 && (strings.EqualFold(rest[:7], "http://") || strings.EqualFold(rest[:8], "https://"))
}

// urlLen is the length of the URL at the start of s: up to white space, '<' or ']' (the
// end of a link's text), less
// trailing punctuation and markers that end a sentence or a span ("see https://x.com.",
// "**https://x.com**") and a ')' or ']' that closes something opened before the URL.
func urlLen(s string) int {
	n := len(s)
	for i, r := range s {
		if unicode.IsSpace(r) || r == '<' || r == ']' {
			n = i
			break
		}
	}
	for n > 0 {
		switch c := s[n-1]; c {
		case '*', '_', '~', '.', ',', ':', ';', '!', '?', '\'', '"':
			n--
			continue
		case ')':
			if strings.Count(s[:n], "(") < strings.Count(s[:n], ")") {
				n--
				continue
			}
		}
		break
	}
	return n
}

// findCloser finds a closing run for an opener of n c's: from i on, a run of at least n
// c's that can close (not after white space; for _, not before a letter or digit), skipping
// escapes, code spans and URLs. It returns where the closing n characters start, or -1.
func findCloser(s string, i int, c byte, n int) int {
	for i < len(s) {
		if j := skip(s, i); j != i {
			i = j
			continue
		}
		if s[i] != c {
			i++
			continue
		}
		m := run(s, i, c)
		end := i + m
		// A single opener is not closed by a pair (that pair belongs to a nested **x**).
		if m >= n && !(n == 1 && m == 2) && !isSpaceOrEdge(runeBefore(s, i)) && (c != '_' || !isWordRune(runeAfter(s, end))) {
			return end - n
		}
		i = end
	}
	return -1
}

// closerMemo remembers, for one string, the earliest position from which a search for each
// closer failed: a search from further on fails too, so a line of openers that never close
// ("*a *a *a …", text an agent chose) costs linear time instead of quadratic (9 KB took
// 120 ms before).
type closerMemo struct {
	failedFrom [3][4]int // [marker][run length]: 0 for never failed, else position+1
}

func markerIndex(c byte) int {
	switch c {
	case '*':
		return 0
	case '_':
		return 1
	}
	return 2
}

// find is findCloser, answered at once when an earlier search from no later failed.
func (m *closerMemo) find(s string, i int, c byte, n int) int {
	slot := &m.failedFrom[markerIndex(c)][n]
	if *slot != 0 && *slot-1 <= i {
		return -1
	}
	j := findCloser(s, i, c, n)
	if j < 0 && (*slot == 0 || i < *slot-1) {
		*slot = i + 1
	}
	return j
}

// inline converts the markup inside one line. bold says the text is already inside a bold
// span (a heading, **...**), where WhatsApp cannot nest another: strong markers are dropped
// and a single *x* is italic.
func (f *formatter) inline(s string, bold bool, depth int) string {
	var memo closerMemo
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && isPunct(s[i+1]):
			b.WriteByte(s[i+1])
			i += 2
			continue
		case c == '\\' && i+1 == len(s):
			i++ // a hard line break
			continue
		case c == '`':
			if e := codeSpanEnd(s, i); e > 0 {
				b.WriteString(s[i:e])
				i = e
				continue
			}
			n := run(s, i, '`')
			b.WriteString(s[i : i+n])
			i += n
			continue
		case (c == 'h' || c == 'H') && bareURLAt(s, i):
			n := urlLen(s[i:])
			b.WriteString(s[i : i+n])
			i += n
			continue
		case c == '<':
			if out, n, ok := autolink(s[i:]); ok {
				b.WriteString(out)
				i += n
				continue
			}
		case (c == '[' || (c == '!' && i+1 < len(s) && s[i+1] == '[')) && depth < maxInlineDepth:
			if out, n, ok := f.link(s[i:], bold, depth); ok {
				b.WriteString(out)
				i += n
				continue
			}
		case (c == '*' || c == '_' || c == '~') && depth < maxInlineDepth:
			if out, n, ok := f.emphasis(&memo, s, i, bold, depth); ok {
				b.WriteString(out)
				i += n
				continue
			}
			n := run(s, i, c)
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// emphasis converts the emphasis that opens at s[i], returning the output and how much of
// s it used; ok is false when the run at s[i] opens nothing to convert.
func (f *formatter) emphasis(memo *closerMemo, s string, i int, bold bool, depth int) (string, int, bool) {
	c := s[i]
	n := run(s, i, c)
	end := i + n
	if isSpaceOrEdge(runeAfter(s, end)) { // cannot open
		return "", 0, false
	}
	if c == '_' && isWordRune(runeBefore(s, i)) { // snake_case
		return "", 0, false
	}
	switch {
	case c == '~' && n == 2:
		j := memo.find(s, end, '~', 2)
		if j <= end {
			return "", 0, false
		}
		return "~" + f.inline(s[end:j], bold, depth+1) + "~", j + 2 - i, true
	case c == '~':
		return "", 0, false
	case n >= 3:
		j := memo.find(s, end, c, 3)
		if j <= end {
			break
		}
		f.sawStrong = true
		inner := "_" + f.inline(s[end:j], true, depth+1) + "_"
		if !bold {
			inner = "*" + inner + "*"
		}
		return s[i:end-3] + inner, j + 3 - i, true
	}
	if n >= 2 {
		j := memo.find(s, i+2, c, 2)
		if j <= i+2 {
			return "", 0, false
		}
		f.sawStrong = true
		inner := f.inline(s[i+2:j], true, depth+1)
		if !bold {
			inner = "*" + inner + "*"
		}
		return inner, j + 2 - i, true
	}
	// A single * or _.
	if c == '_' {
		j := memo.find(s, end, '_', 1)
		if j <= end {
			return "", 0, false
		}
		return "_" + f.inline(s[end:j], bold, depth+1) + "_", j + 1 - i, true
	}
	j := memo.find(s, end, '*', 1)
	if j <= end {
		return "", 0, false
	}
	inner := f.inline(s[end:j], bold || !f.starItalic, depth+1)
	if bold || f.starItalic {
		return "_" + inner + "_", j + 1 - i, true
	}
	return "*" + inner + "*", j + 1 - i, true // WhatsApp's own bold, as the memory asks
}

// autolink converts <scheme:...> or <user@host> at the start of s to its bare address.
func autolink(s string) (string, int, bool) {
	end := strings.IndexByte(s, '>')
	if end < 3 {
		return "", 0, false
	}
	addr := s[1:end]
	if strings.ContainsAny(addr, " \t<") {
		return "", 0, false
	}
	if colon := strings.IndexByte(addr, ':'); colon >= 2 && isScheme(addr[:colon]) {
		return addr, end + 1, true
	}
	if at := strings.IndexByte(addr, '@'); at > 0 && strings.Contains(addr[at:], ".") {
		return addr, end + 1, true
	}
	return "", 0, false
}

// isScheme is a URI scheme: a letter then letters, digits, + . - (2 to 32 characters).
func isScheme(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-')) {
			return false
		}
	}
	return true
}

// link converts [text](url) or ![alt](url) at the start of s to "text (url)", or to the
// url alone when the text says nothing more.
func (f *formatter) link(s string, bold bool, depth int) (string, int, bool) {
	start := 1
	if s[0] == '!' {
		start = 2
	}
	// The text: up to the matching ], skipping escapes and code spans.
	level, i := 1, start
	for i < len(s) && level > 0 {
		if j := skip(s, i); j != i {
			i = j
			continue
		}
		switch s[i] {
		case '[':
			level++
		case ']':
			level--
		}
		i++
	}
	if level != 0 || i >= len(s) || s[i] != '(' {
		return "", 0, false
	}
	text := s[start : i-1]
	dest, n, ok := linkDest(s[i:])
	if !ok {
		return "", 0, false
	}
	out := strings.TrimSpace(f.inline(text, bold, depth+1))
	switch {
	case dest == "":
		return out, i + n, true
	case out == "" || sameAddress(out, dest):
		return dest, i + n, true
	}
	return out + " (" + dest + ")", i + n, true
}

// linkDest parses "(dest)" or "(dest "title")" or "(<dest>)" at the start of s.
func linkDest(s string) (string, int, bool) {
	i := 1
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	var dest string
	if i < len(s) && s[i] == '<' {
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			return "", 0, false
		}
		dest = s[i+1 : i+end]
		i += end + 1
	} else {
		level, j := 0, i
	loop:
		for ; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '(':
				level++
			case ')':
				if level == 0 {
					break loop
				}
				level--
			case ' ', '\t':
				break loop
			}
		}
		if j > len(s) {
			j = len(s)
		}
		dest = s[i:j]
		i = j
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'' || s[i] == '(') {
		closer := s[i]
		if closer == '(' {
			closer = ')'
		}
		end := strings.IndexByte(s[i+1:], closer)
		if end < 0 {
			return "", 0, false
		}
		i += end + 2
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	if i >= len(s) || s[i] != ')' {
		return "", 0, false
	}
	return dest, i + 1, true
}

// sameAddress says whether a link's text is its destination, perhaps without the scheme,
// "www." or "mailto:", or a trailing slash.
func sameAddress(text, dest string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"https://", "http://", "mailto:", "tel:", "www."} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimSuffix(s, "/")
	}
	return norm(text) == norm(dest)
}
