package pipeline

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// msg is formatting.test.ts's makeMsg: a message from Alice at 2024-01-01T00:00Z.
func msg(edit func(*store.Message)) store.Message {
	m := store.Message{
		ID:         "1",
		ChatJID:    "group@g.us",
		Sender:     "123@s.whatsapp.net",
		SenderName: "Alice",
		Content:    "hello",
		Timestamp:  "2024-01-01T00:00:00.000Z",
	}
	if edit != nil {
		edit(&m)
	}
	return m
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestEscapeXML(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ampersand", "a & b", "a &amp; b"},
		{"less-than", "a < b", "a &lt; b"},
		{"greater-than", "a > b", "a &gt; b"},
		{"double quotes", `"hello"`, "&quot;hello&quot;"},
		{"several together", `a & b < c > d "e"`, "a &amp; b &lt; c &gt; d &quot;e&quot;"},
		{"no special characters", "hello world", "hello world"},
		{"empty", "", ""},
		{"apostrophe kept", "it's", "it's"},
		{"already escaped is escaped again", "&amp;", "&amp;amp;"},
		{"multibyte", "héllo <wörld>", "héllo &lt;wörld&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EscapeXML(tc.in); got != tc.want {
				t.Errorf("EscapeXML(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	ny, tokyo, london := mustZone(t, "America/New_York"), mustZone(t, "Asia/Tokyo"), mustZone(t, "Europe/London")
	for _, tc := range []struct {
		name string
		at   string
		loc  *time.Location
		want string
	}{
		{"UTC evening", "2024-01-01T18:30:00Z", time.UTC, "Jan 1, 2024, 6:30 PM"},
		{"nil location is UTC", "2024-01-01T18:30:00Z", nil, "Jan 1, 2024, 6:30 PM"},
		{"midnight is 12 AM", "2024-01-01T00:00:00Z", time.UTC, "Jan 1, 2024, 12:00 AM"},
		{"noon is 12 PM", "2024-01-01T12:00:00Z", time.UTC, "Jan 1, 2024, 12:00 PM"},
		{"minutes two digits", "2024-03-09T09:05:00Z", time.UTC, "Mar 9, 2024, 9:05 AM"},
		{"New York winter (EST)", "2026-02-04T18:30:00Z", ny, "Feb 4, 2026, 1:30 PM"},
		{"New York summer (EDT)", "2026-06-15T12:00:00Z", ny, "Jun 15, 2026, 8:00 AM"},
		{"Tokyo", "2026-06-15T12:00:00Z", tokyo, "Jun 15, 2026, 9:00 PM"},
		{"London summer (BST)", "2024-07-01T17:30:00Z", london, "Jul 1, 2024, 6:30 PM"},
		{"date changes with the zone", "2024-01-01T03:00:00Z", ny, "Dec 31, 2023, 10:00 PM"},
		{"input offset is honoured", "2024-01-01T18:30:00+02:00", time.UTC, "Jan 1, 2024, 4:30 PM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatTime(at(tc.at), tc.loc); got != tc.want {
				t.Errorf("FormatTime(%s) = %q, want %q", tc.at, got, tc.want)
			}
		})
	}
}

func TestFormatMessages(t *testing.T) {
	utc := time.UTC
	ny := mustZone(t, "America/New_York")
	london := mustZone(t, "Europe/London")
	for _, tc := range []struct {
		name     string
		msgs     []store.Message
		loc      *time.Location
		want     string   // the whole prompt, when set
		contains []string // substrings, when want is not enough
		absent   []string
	}{
		{
			name: "single message with context header",
			msgs: []store.Message{msg(nil)},
			loc:  utc,
			want: "<context timezone=\"UTC\" />\n<messages>\n" +
				`<message sender="Alice" time="Jan 1, 2024, 12:00 AM">hello</message>` +
				"\n</messages>",
		},
		{
			name: "multiple messages joined by newlines",
			msgs: []store.Message{
				msg(func(m *store.Message) { m.Content = "hi" }),
				msg(func(m *store.Message) {
					m.ID, m.SenderName, m.Content, m.Timestamp = "2", "Bob", "hey", "2024-01-01T01:00:00.000Z"
				}),
			},
			loc: utc,
			want: "<context timezone=\"UTC\" />\n<messages>\n" +
				`<message sender="Alice" time="Jan 1, 2024, 12:00 AM">hi</message>` + "\n" +
				`<message sender="Bob" time="Jan 1, 2024, 1:00 AM">hey</message>` +
				"\n</messages>",
		},
		{
			name:     "Jan 1, 2024 date rendering",
			msgs:     []store.Message{msg(func(m *store.Message) { m.Timestamp = "2024-01-01T18:30:00.000Z" })},
			loc:      utc,
			contains: []string{`time="Jan 1, 2024, 6:30 PM"`},
		},
		{
			name:     "escapes sender names",
			msgs:     []store.Message{msg(func(m *store.Message) { m.SenderName = "A & B <Co>" })},
			loc:      utc,
			contains: []string{`sender="A &amp; B &lt;Co&gt;"`},
		},
		{
			name:     "escapes content",
			msgs:     []store.Message{msg(func(m *store.Message) { m.Content = `<script>alert("xss")</script>` })},
			loc:      utc,
			contains: []string{">&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;</message>"},
		},
		{
			name:     "empty list",
			msgs:     nil,
			loc:      utc,
			want:     "<context timezone=\"UTC\" />\n<messages>\n\n</messages>",
			contains: []string{"<messages>\n\n</messages>"},
		},
		{
			name:     "converts timestamps to the zone",
			msgs:     []store.Message{msg(func(m *store.Message) { m.Timestamp = "2024-01-01T18:30:00.000Z" })},
			loc:      ny,
			contains: []string{`<context timezone="America/New_York" />`, `time="Jan 1, 2024, 1:30 PM"`},
		},
		{
			name: "reply with quoted message (the reference example)",
			msgs: []store.Message{msg(func(m *store.Message) {
				m.Content, m.Timestamp = "Yes, on my way!", "2024-01-01T18:30:00Z"
				m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = "42", "Are you coming?", "Bob"
			})},
			loc: london,
			want: "<context timezone=\"Europe/London\" />\n<messages>\n" +
				"<message sender=\"Alice\" time=\"Jan 1, 2024, 6:30 PM\" reply_to=\"42\">\n" +
				"  <quoted_message from=\"Bob\">Are you coming?</quoted_message>Yes, on my way!</message>" +
				"\n</messages>",
		},
		{
			name:     "no reply context: neither reply_to nor quoted_message",
			msgs:     []store.Message{msg(func(m *store.Message) { m.Content = "plain" })},
			loc:      utc,
			absent:   []string{"reply_to", "quoted_message"},
			contains: []string{">plain</message>"},
		},
		{
			name: "reply_to without quoted text: no quoted_message",
			msgs: []store.Message{msg(func(m *store.Message) {
				m.Content, m.ReplyToMessageID, m.ReplyToSenderName = "ack", "42", "Bob"
			})},
			loc:      utc,
			contains: []string{`reply_to="42">ack</message>`},
			absent:   []string{"quoted_message"},
		},
		{
			name: "reply_to without quoted sender: no quoted_message",
			msgs: []store.Message{msg(func(m *store.Message) {
				m.Content, m.ReplyToMessageID, m.ReplyToMessageContent = "ack", "42", "Are you coming?"
			})},
			loc:      utc,
			contains: []string{`reply_to="42">ack</message>`},
			absent:   []string{"quoted_message", "Are you coming?"},
		},
		{
			name: "quoted text and sender without id: quoted_message but no reply_to",
			msgs: []store.Message{msg(func(m *store.Message) {
				m.ReplyToMessageContent, m.ReplyToSenderName = "earlier", "Bob"
			})},
			loc:      utc,
			contains: []string{"\">\n  <quoted_message from=\"Bob\">earlier</quoted_message>hello</message>"},
			absent:   []string{"reply_to"},
		},
		{
			name: "escapes the quoted reply and reply id",
			msgs: []store.Message{msg(func(m *store.Message) {
				m.ReplyToMessageID, m.ReplyToMessageContent, m.ReplyToSenderName = `4"2`, "a < b & c", `B"ob`
			})},
			loc: utc,
			contains: []string{
				`reply_to="4&quot;2"`,
				`<quoted_message from="B&quot;ob">a &lt; b &amp; c</quoted_message>`,
			},
		},
		{
			name:     "unparsable timestamp shown raw, escaped",
			msgs:     []store.Message{msg(func(m *store.Message) { m.Timestamp = `not-a-date "<x>"` })},
			loc:      utc,
			contains: []string{`time="not-a-date &quot;&lt;x&gt;&quot;"`},
		},
		{
			name:     "timestamp without fractional seconds",
			msgs:     []store.Message{msg(func(m *store.Message) { m.Timestamp = "2024-01-01T18:30:00Z" })},
			loc:      utc,
			contains: []string{`time="Jan 1, 2024, 6:30 PM"`},
		},
		{
			name:     "nil location is UTC",
			msgs:     []store.Message{msg(nil)},
			loc:      nil,
			contains: []string{`<context timezone="UTC" />`, `time="Jan 1, 2024, 12:00 AM"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatMessages(tc.msgs, tc.loc)
			if tc.want != "" && got != tc.want {
				t.Errorf("FormatMessages =\n%s\nwant\n%s", got, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(got, s) {
					t.Errorf("FormatMessages =\n%s\nwant it to contain %q", got, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(got, s) {
					t.Errorf("FormatMessages =\n%s\nwant it not to contain %q", got, s)
				}
			}
		})
	}
}

func TestStripInternal(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"single line", "hello <internal>secret</internal> world", "hello  world"},
		{"multi-line", "hello <internal>\nsecret\nstuff\n</internal> world", "hello  world"},
		{"multiple blocks", "<internal>a</internal>hello<internal>b</internal>", "hello"},
		{"only internal", "<internal>only this</internal>", ""},
		{"no tags, trimmed", "  hello world \n", "hello world"},
		{"non-greedy", "<internal>a</internal>keep<internal>b</internal>", "keep"},
		{"first close ends the block", "<internal>a</internal>b</internal>", "b</internal>"},
		{"unclosed open tag kept", "hi <internal>draft", "hi <internal>draft"},
		{"close before open kept", "a</internal>b<internal>c</internal>d", "a</internal>bd"},
		{"nested open inside block", "<internal><internal>x</internal>y</internal>", "y</internal>"},
		{"trims like JavaScript (BOM)", "\uFEFFhi\uFEFF", "hi"},
		{"keeps U+0085 like JavaScript", "\u0085hi", "\u0085hi"},
		{"case-sensitive tags", "<INTERNAL>x</INTERNAL>", "<INTERNAL>x</INTERNAL>"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StripInternal(tc.in); got != tc.want {
				t.Errorf("StripInternal(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatOutbound(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text unchanged", "hello world", "hello world"},
		{"all internal gives empty", "<internal>hidden</internal>", ""},
		{"internal stripped from the rest", "<internal>thinking</internal>The answer is 42", "The answer is 42"},
		{"white space only gives empty", " \n\t ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatOutbound(tc.in); got != tc.want {
				t.Errorf("FormatOutbound(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLoadLocation(t *testing.T) {
	for _, tc := range []struct {
		tz      string
		want    string
		wantErr bool
	}{
		{"America/New_York", "America/New_York", false},
		{"UTC", "UTC", false},
		{"Asia/Tokyo", "Asia/Tokyo", false},
		{"Asia/Jerusalem", "Asia/Jerusalem", false},
		{"Europe/London", "Europe/London", false},
		{"IST-2", "UTC", true},
		{"XYZ+3", "UTC", true},
		{"NotATimezone", "UTC", true},
		{"", "UTC", true},
		{"Local", "UTC", true},
		{"../etc/passwd", "UTC", true},
		{"/etc/localtime", "UTC", true},
	} {
		t.Run(tc.tz, func(t *testing.T) {
			loc, err := LoadLocation(tc.tz)
			if (err != nil) != tc.wantErr {
				t.Fatalf("LoadLocation(%q) error = %v, want error %v", tc.tz, err, tc.wantErr)
			}
			if loc == nil || loc.String() != tc.want {
				t.Fatalf("LoadLocation(%q) = %v, want %s", tc.tz, loc, tc.want)
			}
		})
	}
	t.Run("fallback formats as UTC", func(t *testing.T) {
		loc, _ := LoadLocation("IST-2")
		noon := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		if got, want := FormatTime(noon, loc), "Jan 1, 2026, 12:00 PM"; got != want {
			t.Errorf("FormatTime = %q, want %q", got, want)
		}
	})
	t.Run("empty name error", func(t *testing.T) {
		if _, err := LoadLocation(""); !errors.Is(err, errNoZone) {
			t.Errorf("LoadLocation(\"\") error = %v, want errNoZone", err)
		}
	})
}

func TestSplitMessage(t *testing.T) {
	para := strings.Repeat("a", 6)
	for _, tc := range []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short text is one part", "hello world", 100, []string{"hello world"}},
		{"exactly the limit", "hello", 5, []string{"hello"}},
		{"short text kept as is", "  hi  ", 100, []string{"  hi  "}},
		{"limit zero is one part", strings.Repeat("x", 50), 0, []string{strings.Repeat("x", 50)}},
		{"negative limit is one part", "a b c", -1, []string{"a b c"}},
		{"empty gives no parts", "", 10, nil},
		{"white space gives no parts", " \n\t", 10, nil},
		{"white space gives no parts, no limit", "  ", 0, nil},
		{"prefers a paragraph break", "aaa bbb\nccc\n\nddd eee", 18, []string{"aaa bbb\nccc", "ddd eee"}},
		{"latest paragraph break in the window", para + "\n\n" + para + "\n\n" + para, 16, []string{para + "\n\n" + para, para}},
		{"then a line break", "aaa bbb\nccc ddd", 12, []string{"aaa bbb", "ccc ddd"}},
		{"then a space", "aaa bbb ccc", 9, []string{"aaa bbb", "ccc"}},
		{"space run dropped", "aaa    bbb", 5, []string{"aaa", "bbb"}},
		{"hard cut of a long word", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"runes not bytes", "ééé ééé", 4, []string{"ééé", "ééé"}},
		{"emoji counted as runes", "😀😀😀😀😀", 2, []string{"😀😀", "😀😀", "😀"}},
		{"indentation after a line break kept", "aaa\n  bbb", 6, []string{"aaa", "  bbb"}},
		{"indentation longer than the limit dropped", "a\n      bbb", 3, []string{"a", "bbb"}},
		{"blank line with spaces is a paragraph break", "aa bb\n \ncc", 8, []string{"aa bb", "cc"}},
		{"CRLF paragraphs", "aa bb\r\n\r\ncc", 9, []string{"aa bb", "cc"}},
		{"boundary just past the window", "aaaa bbbb", 4, []string{"aaaa", "bbbb"}},
		{"no empty part from leading space", "   abcdef", 3, []string{"abc", "def"}},
		{
			"keeps a code fence whole",
			"see:\n```\nx = 1\n\ny = 2\n```\ndone",
			24,
			[]string{"see:", "```\nx = 1\n\ny = 2\n```", "done"},
		},
		{
			"an earlier cut outside a fence beats a later one inside",
			"intro text\n```\na\n\nb\n```",
			16,
			[]string{"intro text", "```\na\n\nb\n```"},
		},
		{
			"splits inside a fence that cannot fit",
			"```\naaaa\n\nbbbb\n```",
			10,
			[]string{"```\naaaa", "bbbb\n```"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SplitMessage(tc.text, tc.limit)
			if !equalStrings(got, tc.want) {
				t.Errorf("SplitMessage(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
			checkSplit(t, tc.text, tc.limit, got)
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkSplit asserts SplitMessage's invariants: parts are non-blank pieces of text, in
// order, each within limit, together holding all of text's non-space characters.
func checkSplit(t *testing.T, text string, limit int, parts []string) {
	t.Helper()
	if !hasContent(text) {
		if len(parts) != 0 {
			t.Fatalf("blank text gave parts %q", parts)
		}
		return
	}
	if limit <= 0 && len(parts) != 1 {
		t.Fatalf("limit %d gave %d parts, want 1", limit, len(parts))
	}
	off := 0
	for i, p := range parts {
		if !hasContent(p) {
			t.Fatalf("part %d is blank: %q", i, p)
		}
		if limit > 0 && utf8.RuneCountInString(p) > limit {
			t.Fatalf("part %d has %d runes, limit %d: %q", i, utf8.RuneCountInString(p), limit, p)
		}
		k := strings.Index(text[off:], p)
		if k < 0 {
			t.Fatalf("part %d %q is not a piece of the text after offset %d", i, p, off)
		}
		if gap := text[off : off+k]; hasContent(gap) {
			t.Fatalf("content %q lost before part %d", gap, i)
		}
		off += k + len(p)
	}
	if hasContent(text[off:]) {
		t.Fatalf("content %q lost after the last part", text[off:])
	}
	var kept strings.Builder
	for _, p := range parts {
		kept.WriteString(removeSpace(p))
	}
	if kept.String() != removeSpace(text) {
		t.Fatalf("parts %q do not hold the text's content %q", parts, text)
	}
}

// removeSpace drops s's white space and keeps every other byte, valid UTF-8 or not.
func removeSpace(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func FuzzSplitMessage(f *testing.F) {
	f.Add("aaa bbb\nccc\n\nddd eee", 10)
	f.Add("```\ncode\n\nmore\n```\ntext after", 8)
	f.Add("ééé ééé\r\n\r\n😀😀😀", 3)
	f.Add("   \n   x", 2)
	f.Add("\xff\xfe a\x85b", 1)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit > 1<<16 {
			limit %= 1 << 16
		}
		checkSplit(t, text, limit, SplitMessage(text, limit))
	})
}

// promptDoc is a formatted prompt wrapped in a root element, as encoding/xml sees it.
type promptDoc struct {
	Context struct {
		Timezone string `xml:"timezone,attr"`
	} `xml:"context"`
	Messages []struct {
		Sender  string `xml:"sender,attr"`
		Time    string `xml:"time,attr"`
		ReplyTo string `xml:"reply_to,attr"`
		Quoted  []struct {
			From string `xml:"from,attr"`
			Text string `xml:",chardata"`
		} `xml:"quoted_message"`
		Text string `xml:",chardata"`
	} `xml:"messages>message"`
}

// xmlSafe reports whether s holds only characters XML 1.0 allows, the only input
// encoding/xml can be asked to read back.
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\t' && r != '\n' && r != '\r' && r < 0x20 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

func FuzzFormatMessages(f *testing.F) {
	f.Add("Alice", "hello", "2024-01-01T00:00:00.000Z", "", "", "")
	f.Add("A & B <Co>", `<script>alert("xss")</script>`, "garbage<", "4\"2", "Bob</x>", "]]><message>")
	f.Add(`"><message sender="x`, "</message></messages><messages>", "", "1", `"`, "<!--")
	f.Fuzz(func(t *testing.T, sender, content, ts, replyID, replySender, replyContent string) {
		m := store.Message{
			SenderName: sender, Content: content, Timestamp: ts,
			ReplyToMessageID: replyID, ReplyToSenderName: replySender, ReplyToMessageContent: replyContent,
		}
		out := FormatMessages([]store.Message{m}, time.UTC)
		// Whatever the input, only the framing holds markup characters.
		framing := strings.Count(out, "<")
		wantFraming := 1 + 2 + 2 // context, messages open/close, message open/close
		if replyContent != "" && replySender != "" {
			wantFraming += 2
		}
		if framing != wantFraming {
			t.Fatalf("%d '<' in the prompt, want %d:\n%s", framing, wantFraming, out)
		}
		for _, s := range []string{sender, content, ts, replyID, replySender, replyContent} {
			if !xmlSafe(s) {
				return
			}
		}
		var doc promptDoc
		dec := xml.NewDecoder(strings.NewReader("<prompt>" + out + "</prompt>"))
		dec.Strict = true
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("prompt is not well-formed XML: %v\n%s", err, out)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("trailing data after the prompt: %v", err)
		}
		norm := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n") }
		if len(doc.Messages) != 1 {
			t.Fatalf("%d messages, want 1:\n%s", len(doc.Messages), out)
		}
		got := doc.Messages[0]
		if doc.Context.Timezone != "UTC" || got.Sender != norm(sender) || got.ReplyTo != norm(replyID) {
			t.Fatalf("attributes changed: %+v\n%s", got, out)
		}
		wantText := norm(content)
		if replyContent != "" && replySender != "" {
			wantText = "\n  " + wantText
			if len(got.Quoted) != 1 || got.Quoted[0].From != norm(replySender) || got.Quoted[0].Text != norm(replyContent) {
				t.Fatalf("quoted message changed: %+v\n%s", got.Quoted, out)
			}
		} else if len(got.Quoted) != 0 {
			t.Fatalf("unexpected quoted message:\n%s", out)
		}
		if got.Text != wantText {
			t.Fatalf("content %q read back as %q", wantText, got.Text)
		}
	})
}
