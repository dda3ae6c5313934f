package pipeline

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // a zone database even on hosts without /usr/share/zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// EscapeXML escapes & < > and " so that chat text can sit in the prompt's element content
// and double-quoted attributes without being read as markup: the agent must never mistake
// what a group member typed for the host's own framing. It is NanoClaw's escapeXml; the
// apostrophe is left alone because every attribute is double-quoted.
func EscapeXML(s string) string {
	if !strings.ContainsAny(s, `&<>"`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// timeLayout is JavaScript's toLocaleString('en-US', {year:'numeric', month:'short',
// day:'numeric', hour:'numeric', minute:'2-digit', hour12:true}), which NanoClaw puts in
// every prompt, with a plain space before AM/PM where newer ICU versions put U+202F.
const timeLayout = "Jan 2, 2006, 3:04 PM"

// FormatTime renders t in loc as NanoClaw's prompts do ("Jan 1, 2024, 6:30 PM"), so the
// agent reads times in the group's own zone. A nil loc means UTC.
func FormatTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(timeLayout)
}

// formatTimestamp renders a stored ISO-8601 timestamp with FormatTime; a timestamp that
// does not parse is shown as it is rather than dropping the message from the prompt.
func formatTimestamp(ts string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, ts) // also accepts fractional seconds
	if err != nil {
		return ts
	}
	return FormatTime(t, loc)
}

// FormatMessages builds the agent's prompt from pending messages exactly as NanoClaw's
// formatMessages does, so agent instructions and group memories written for NanoClaw keep
// working:
//
//	<context timezone="Europe/London" />
//	<messages>
//	<message sender="Alice" time="Jan 1, 2024, 6:30 PM" reply_to="42">
//	  <quoted_message from="Bob">Are you coming?</quoted_message>Yes, on my way!</message>
//	</messages>
//
// reply_to appears only for replies; quoted_message only when both the quoted text and its
// sender are known. Files that came with a message follow its text, one attachment element
// a line (FormatAttachment), naming each by its path in the container. Every attribute and text is escaped with EscapeXML. The header names
// loc (nil means UTC), so loc should come from a zone name, not be time.Local.
func FormatMessages(msgs []store.Message, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	b.WriteString(`<context timezone="`)
	b.WriteString(EscapeXML(loc.String()))
	b.WriteString("\" />\n<messages>\n")
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(`<message sender="`)
		b.WriteString(EscapeXML(m.SenderName))
		b.WriteString(`" time="`)
		b.WriteString(EscapeXML(formatTimestamp(m.Timestamp, loc)))
		b.WriteByte('"')
		if m.ReplyToMessageID != "" {
			b.WriteString(` reply_to="`)
			b.WriteString(EscapeXML(m.ReplyToMessageID))
			b.WriteByte('"')
		}
		b.WriteByte('>')
		if m.ReplyToMessageContent != "" && m.ReplyToSenderName != "" {
			b.WriteString("\n  <quoted_message from=\"")
			b.WriteString(EscapeXML(m.ReplyToSenderName))
			b.WriteString(`">`)
			b.WriteString(EscapeXML(m.ReplyToMessageContent))
			b.WriteString("</quoted_message>")
		}
		b.WriteString(EscapeXML(m.Content))
		for _, a := range m.Attachments {
			b.WriteByte('\n')
			b.WriteString(FormatAttachment(a))
		}
		b.WriteString("</message>")
	}
	b.WriteString("\n</messages>")
	return b.String()
}

const (
	internalOpen  = "<internal>"
	internalClose = "</internal>"
)

// StripInternal removes every <internal>…</internal> block (the agent's notes to itself,
// never meant for the chat) and trims the rest, as NanoClaw's stripInternalTags does with
// /<internal>[\s\S]*?<\/internal>/g: blocks end at the first closing tag, may span lines,
// and an opening tag with no closing tag after it is left in place.
func StripInternal(s string) string {
	if !strings.Contains(s, internalOpen) {
		return trimJS(s)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, internalOpen)
		if i < 0 {
			break
		}
		j := strings.Index(s[i+len(internalOpen):], internalClose)
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		s = s[i+len(internalOpen)+j+len(internalClose):]
	}
	b.WriteString(s)
	return trimJS(b.String())
}

// FormatOutbound turns an agent result into the text to send: StripInternal's result, ""
// meaning there is nothing to send. It is NanoClaw's formatOutbound; the channel adds any
// "Name: " prefix itself.
func FormatOutbound(s string) string {
	return StripInternal(s)
}

// trimJS is JavaScript's String.prototype.trim, which NanoClaw applies: it also strips a
// byte-order mark (U+FEFF) and keeps U+0085, unlike strings.TrimSpace.
func trimJS(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return r == '\uFEFF' || r != '\u0085' && unicode.IsSpace(r)
	})
}

// SplitMessage cuts a reply into parts of at most limit characters (runes), because chat
// networks reject or truncate long messages. Each cut is made as late as possible at the
// best boundary available: outside a ``` code fence before inside one, then a blank line,
// then a line break, then any white space; a word longer than limit is cut hard. The white
// space at a cut is dropped (the indentation after a line break is kept); nothing else is
// changed, so the parts in order hold all of text's non-space characters.
//
// Text of at most limit runes, or any text when limit <= 0, is one part, unchanged. No part
// is empty or only white space; text with nothing but white space gives no parts.
func SplitMessage(text string, limit int) []string {
	if !hasContent(text) {
		return nil
	}
	if limit <= 0 || utf8.RuneCountInString(text) <= limit {
		return []string{text}
	}
	fences := fenceOffsets(text)
	var parts []string
	rest, base := text, 0 // rest is text[base:]
	advance := func(n int) { rest, base = rest[n:], base+n }
	for hasContent(rest) {
		end := runeOffset(rest, limit)
		if end == len(rest) {
			parts = append(parts, rest)
			break
		}
		if !hasContent(rest[:end]) { // indentation longer than limit: drop it
			advance(len(rest) - len(strings.TrimLeftFunc(rest, unicode.IsSpace)))
			continue
		}
		p, ok := bestCut(rest, end, base, fences)
		if !ok { // one word fills the window
			parts = append(parts, rest[:end])
			advance(end)
			continue
		}
		parts = append(parts, rest[:p])
		advance(p + boundaryWidth(rest[p:]))
	}
	return parts
}

// bestCut picks where to end the next part of rest: the position p <= end after some
// content and at the start of a white-space run, ranked by being outside a code fence, then
// by how many line breaks the run holds (two or more is a paragraph break), later wins ties.
func bestCut(rest string, end, base int, fences []int) (int, bool) {
	best, bestRank := -1, -1
	seenContent := false
	for i := 0; i <= end && i < len(rest); {
		r, size := utf8.DecodeRuneInString(rest[i:])
		if !unicode.IsSpace(r) {
			seenContent = true
			i += size
			continue
		}
		j, newlines := i, 0
		for j < len(rest) {
			r, size := utf8.DecodeRuneInString(rest[j:])
			if !unicode.IsSpace(r) {
				break
			}
			if r == '\n' {
				newlines++
			}
			j += size
		}
		if seenContent {
			rank := min(newlines, 2)
			if !inFence(fences, base+i) {
				rank += 3
			}
			if rank >= bestRank {
				best, bestRank = i, rank
			}
		}
		i = j
	}
	return best, best >= 0
}

// boundaryWidth is how much of the white space at the start of s a cut drops: all of it,
// except the indentation after its last line break.
func boundaryWidth(s string) int {
	run := len(s) - len(strings.TrimLeftFunc(s, unicode.IsSpace))
	if k := strings.LastIndexByte(s[:run], '\n'); k >= 0 {
		return k + 1
	}
	return run
}

// fenceOffsets lists, in order, the offsets of the lines of text that open or close a
// Markdown code fence: lines starting, after spaces or tabs, with ```.
func fenceOffsets(text string) []int {
	var out []int
	for off := 0; off < len(text); {
		line := text[off:]
		if k := strings.IndexByte(line, '\n'); k >= 0 {
			line = line[:k]
		}
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "```") {
			out = append(out, off)
		}
		off += len(line) + 1
	}
	return out
}

// inFence reports whether offset pos of the text lies inside a code fence: after an odd
// number of fence lines.
func inFence(fences []int, pos int) bool {
	return sort.SearchInts(fences, pos)%2 == 1
}

// runeOffset is the byte offset of s just after its first n runes, or len(s).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// hasContent reports whether s holds anything but white space.
func hasContent(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) }) >= 0
}

// errNoZone is returned by LoadLocation for the empty name, which NanoClaw treats as
// invalid rather than as UTC.
var errNoZone = errors.New("no time zone name given")

// LoadLocation resolves an IANA zone name for prompts, falling back to UTC as NanoClaw's
// resolveTimezone does so that a bad name never stops a prompt from being built. The error
// says why the fallback happened, for the caller to log. "Local" is refused: the prompt
// header must name a real zone.
func LoadLocation(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, errNoZone
	}
	if tz == "Local" {
		return time.UTC, fmt.Errorf("time zone %q: not an IANA zone name", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC, fmt.Errorf("time zone %q: %w", tz, err)
	}
	return loc, nil
}

// FormatAttachment renders a stored attachment as the prompt's attachment element
// (runproto.FormatAttachment), its path as the container sees it (under /workspace/group).
func FormatAttachment(a store.Attachment) string {
	ra := runproto.Attachment{Type: a.Kind, MIME: a.MIME, Name: a.FileName, Size: a.Size, Seconds: a.Seconds,
		Width: a.Width, Height: a.Height, Skipped: a.Skipped}
	if a.Path != "" {
		ra.Path = path.Join(runproto.GroupDir, path.Clean("/"+a.Path))
	}
	return runproto.FormatAttachment(ra)
}
