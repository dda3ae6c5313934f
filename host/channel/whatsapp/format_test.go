package whatsapp

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFormatText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		// Plain text is never touched.
		{"plain", "Hello there, how are you?", "Hello there, how are you?"},
		{"empty", "", ""},
		{"arithmetic stars", "2 * 3 * 4 = 24", "2 * 3 * 4 = 24"},
		{"lone underscores", "snake_case_name and a_b", "snake_case_name and a_b"},
		{"email", "write to a_b@example.com", "write to a_b@example.com"},
		{"unicode kept", "Ça va? 👍 **très** bien", "Ça va? 👍 *très* bien"},

		// Bold.
		{"double star bold", "this is **bold** text", "this is *bold* text"},
		{"double underscore bold", "this is __bold__ text", "this is *bold* text"},
		{"bold at edges", "**all bold**", "*all bold*"},
		{"two bolds", "**a** and **b**", "*a* and *b*"},
		{"bold not opened by space", "a ** b ** c", "a ** b ** c"},
		{"unclosed bold", "**never closed", "**never closed"},
		{"bold does not span lines", "**one\ntwo**", "**one\ntwo**"},
		{"bold with italic inside", "**bold _it_ here**", "*bold _it_ here*"},
		{"bold with star italic inside", "**bold *it* here**", "*bold _it_ here*"},
		{"bold italic triple", "***both***", "*_both_*"},
		{"bold closing italic", "*it **bold***", "_it *bold*_"},
		{"italic closing bold", "**bold *it***", "*bold _it_*"},
		{"underscore bold intraword is not bold", "a__b__c", "a__b__c"},

		// Italics.
		{"underscore italic kept", "an _italic_ word", "an _italic_ word"},
		{"single star kept as whatsapp bold", "a *bold* word", "a *bold* word"},
		{"single star is italic in a markdown message", "**Note:** this is *important*", "*Note:* this is _important_"},
		{"single star bold whatsapp style", "*Summary*\nAll good.", "*Summary*\nAll good."},

		// Strikethrough.
		{"double tilde", "~~gone~~ here", "~gone~ here"},
		{"single tilde kept", "~gone~ here", "~gone~ here"},
		{"tilde approx", "~5 minutes", "~5 minutes"},
		{"double tilde unclosed", "~~ nope", "~~ nope"},

		// Code.
		{"inline code kept", "run `go test` now", "run `go test` now"},
		{"no formatting inside inline code", "use `**kwargs` and `a_b_c` and `~~x~~`", "use `**kwargs` and `a_b_c` and `~~x~~`"},
		{"inline code hides a closer", "**bold `**` still**", "*bold `**` still*"},
		{"double backtick span", "``a ` b`` **x**", "``a ` b`` *x*"},
		{"triple backtick inline kept", "```mono``` and **b**", "```mono``` and *b*"},
		{"unclosed backtick", "a ` b **c**", "a ` b *c*"},
		{"fenced block language dropped", "```go\nfunc main() { **x** }\n```", "```\nfunc main() { **x** }\n```"},
		{"fenced block content verbatim", "Look:\n```\n# not a heading\n- not a list\n[a](b) __c__\n```\nDone **ok**",
			"Look:\n```\n# not a heading\n- not a list\n[a](b) __c__\n```\nDone *ok*"},
		{"tilde fence", "~~~python\nprint('**x**')\n~~~", "```\nprint('**x**')\n```"},
		{"longer fence needs longer close", "````\n```\ninner\n```\n````", "```\n```\ninner\n```\n```"},
		{"indented fence in a list", "- step:\n  ```sh\n  make **all**\n  ```", "• step:\n```\n  make **all**\n```"},
		{"unclosed fence is closed", "```\ncode **x**", "```\ncode **x**\n```"},
		{"closing fence with spaces", "```\nx\n```   \nafter", "```\nx\n```\nafter"},

		// Headings.
		{"h1", "# Title", "*Title*"},
		{"h3", "### Section three", "*Section three*"},
		{"h6", "###### Small", "*Small*"},
		{"seven hashes is text", "####### no", "####### no"},
		{"no space is text", "#hashtag", "#hashtag"},
		{"closing hashes", "## Title ##", "*Title*"},
		{"hash in heading text", "# C# tips", "*C# tips*"},
		{"bold inside heading dropped", "## The **best** way", "*The best way*"},
		{"heading with code", "# Use `**x**`", "*Use `**x**`*"},
		{"heading with link", "# [Docs](https://x.dev)", "*Docs (https://x.dev)*"},
		{"heading already bold", "# *Title*", "*Title*"},
		{"empty heading", "#", ""},
		{"heading in a message", "# Plan\nFirst, **this**.", "*Plan*\nFirst, *this*."},

		// Lists.
		{"dash bullet", "- one\n- two", "• one\n• two"},
		{"star bullet", "* one\n* two", "• one\n• two"},
		{"plus bullet", "+ one", "• one"},
		{"nested bullet keeps indent", "- a\n  - b\n    - c", "• a\n  • b\n    • c"},
		{"bullet with bold", "- **Name:** Alice", "• *Name:* Alice"},
		{"bullet already a dot", "• item", "• item"},
		{"task list", "- [ ] todo\n- [x] done", "☐ todo\n☑ done"},
		{"numbered list kept", "1. first\n2. **second**\n10) tenth", "1. first\n2. *second*\n10) tenth"},
		{"dash in text is not a bullet", "well - maybe", "well - maybe"},
		{"negative number", "-5 degrees", "-5 degrees"},
		{"star bold at line start is not a bullet", "*Note:* fine", "*Note:* fine"},

		// Breaks and quotes.
		{"thematic break kept", "a\n---\nb", "a\n---\nb"},
		{"star break is not a bullet", "* * *", "* * *"},
		{"quote kept", "> quoted **text**", "> quoted *text*"},
		{"quote with heading", "> # Title", "> *Title*"},
		{"quote with list", "> - item", "> • item"},

		// Links.
		{"link", "see [the docs](https://example.com/docs) now", "see the docs (https://example.com/docs) now"},
		{"link text equals url", "[https://example.com](https://example.com)", "https://example.com"},
		{"link text without scheme", "[example.com](https://example.com/)", "https://example.com/"},
		{"link with title", `[docs](https://x.dev "The docs")`, "docs (https://x.dev)"},
		{"link in angle brackets", "[docs](<https://x.dev/a b>)", "docs (https://x.dev/a b)"},
		{"link with parens in url", "[Go](https://en.wikipedia.org/wiki/Go_(programming_language))", "Go (https://en.wikipedia.org/wiki/Go_(programming_language))"},
		{"link with bold text", "[**Go**](https://go.dev)", "*Go* (https://go.dev)"},
		{"link with empty text", "[](https://go.dev)", "https://go.dev"},
		{"mailto link", "[a@b.co](mailto:a@b.co)", "mailto:a@b.co"},
		{"image", "![a cat](https://x.dev/cat.png)", "a cat (https://x.dev/cat.png)"},
		{"image without alt", "![](https://x.dev/cat.png)", "https://x.dev/cat.png"},
		{"brackets that are not a link", "[1] and [note]", "[1] and [note]"},
		{"unclosed link", "[text](https://x.dev", "[text](https://x.dev"},
		{"autolink", "<https://go.dev>", "https://go.dev"},
		{"autolink email", "<a@b.co>", "a@b.co"},
		{"angle text kept", "a <b> c and x < y", "a <b> c and x < y"},
		{"bare url untouched", "https://x.dev/a__b__c and **b**", "https://x.dev/a__b__c and *b*"},
		{"bare url in bold", "**https://x.dev/a_b**", "*https://x.dev/a_b*"},
		{"bare url in parens", "(see https://x.dev/~~a~~)", "(see https://x.dev/~~a~~)"},

		// Escapes.
		{"escaped stars", `\*not bold\* and 5 \* 3`, "*not bold* and 5 * 3"},
		{"escaped bold", `\*\*literal\*\*`, "**literal**"},
		{"backslash before letter kept", `C:\Users\me`, `C:\Users\me`},
		{"hard break backslash", "line\\\nnext", "line\nnext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatText(tc.in); got != tc.want {
				t.Errorf("FormatText(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzFormatText: never panics, valid UTF-8 stays valid, text with no Markdown character
// is unchanged, and a fenced block's content comes out byte for byte whatever surrounds it.
func FuzzFormatText(f *testing.F) {
	for _, s := range []string{"", "**a**", "# h", "- x", "[a](b)", "`c`", "```\nx\n```", "~~s~~", "***x***",
		"*a **b***", "[[a](b)](c)", "<a@b>", "\\", "```", "> > -", "![](", "__a__b", "h https://x.dev/**"} {
		f.Add(s, "code\n**x** _y_ [z](w)", s)
	}
	f.Fuzz(func(t *testing.T, before, code, after string) {
		out := FormatText(before)
		if utf8.ValidString(before) && !utf8.ValidString(out) {
			t.Fatalf("FormatText(%q) = %q: invalid UTF-8", before, out)
		}
		if !strings.ContainsAny(before, "*_~`[]#<>\\!-+") && out != before {
			t.Fatalf("FormatText(%q) = %q: changed text with no Markdown", before, out)
		}
		// A fenced block after text with no fence of its own, and before anything.
		code = strings.ReplaceAll(code, "\r", "")
		for _, l := range strings.Split(code, "\n") {
			if _, ok := opensFence(l); ok || strings.Contains(l, "```") || strings.Contains(l, "~~~") {
				return
			}
		}
		for _, l := range strings.Split(before, "\n") {
			if _, ok := opensFence(l); ok {
				return
			}
		}
		in := before + "\n```lang\n" + code + "\n```\n" + after
		if got := FormatText(in); !strings.Contains(got, "\n```\n"+code+"\n```") {
			t.Fatalf("FormatText(%q) = %q: code block %q not kept", in, got, code)
		}
	})
}

func TestSendFormatsMarkdown(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{})
	online(c)
	mustSend(t, c, sendGroup, "## Plan\n- **first** step\n```go\nx := **y**\n```")
	want := "Andy: *Plan*\n• *first* step\n```\nx := **y**\n```"
	if a := f.next(t); a.text != want {
		t.Fatalf("sent %q, want %q", a.text, want)
	}
}

// BenchmarkFormatText converts a typical Markdown reply.
func BenchmarkFormatText(b *testing.B) {
	reply := strings.Repeat("## Heading\nSome **bold** and _italic_ text with `code` and a [link](https://example.com/path).\n"+
		"- first item\n- second *item*\n```go\nfunc main() { fmt.Println(\"**x**\") }\n```\n", 20)
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		FormatText(reply)
	}
}

// BenchmarkFormatTextHostile: 66 KB of emphasis openers that never close, in long lines, the
// shape that was quadratic (380 ms); a few milliseconds per reply is the target.
func BenchmarkFormatTextHostile(b *testing.B) {
	reply := strings.Repeat(strings.Repeat("*a ", 1300)+"\n", 17)
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		FormatText(reply)
	}
}
