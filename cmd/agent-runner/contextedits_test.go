package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
)

// Builders of histories for the table tests.

func userText(s string) anthropic.BetaMessageParam {
	return anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock(s))
}

func assistantText(s string) anthropic.BetaMessageParam {
	return anthropic.BetaMessageParam{Role: anthropic.BetaMessageParamRoleAssistant, Content: []anthropic.BetaContentBlockParamUnion{anthropic.NewBetaTextBlock(s)}}
}

func assistantCall(id string) anthropic.BetaMessageParam {
	return anthropic.BetaMessageParam{Role: anthropic.BetaMessageParamRoleAssistant, Content: []anthropic.BetaContentBlockParamUnion{anthropic.BetaContentBlockParamUnion{OfToolUse: &anthropic.BetaToolUseBlockParam{ID: id, Name: "bash", Input: map[string]any{"command": "cat " + id}}}}}
}

func userResult(id, out string) anthropic.BetaMessageParam {
	return anthropic.NewBetaUserMessage(anthropic.BetaContentBlockParamUnion{OfToolResult: &anthropic.BetaToolResultBlockParam{ToolUseID: id, Content: []anthropic.BetaToolResultBlockParamContentUnion{textBlock(out)}}})
}

// compactionMsg is an assistant message as the API returns it after compacting: the
// compaction block first (content nil: a failed compaction), then the answer.
func compactionMsg(summary *string, answer string) anthropic.BetaMessageParam {
	raw, _ := json.Marshal(map[string]any{"id": "msg_c", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
		"content": []any{map[string]any{"type": "compaction", "content": summary, "encrypted_content": "opaque"}, map[string]any{"type": "text", "text": answer}},
		"usage":   map[string]any{"input_tokens": 1, "output_tokens": 1}})
	var m anthropic.BetaMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	return m.ToParam()
}

// shape renders a history compactly: role initial and block kinds, e.g. "U:text A:tool_use".
func shape(msgs []anthropic.BetaMessageParam) string {
	var parts []string
	for _, m := range msgs {
		var kinds []string
		for _, b := range m.Content {
			k := *b.GetType()
			switch {
			case b.OfText != nil:
				k += "(" + cutText(b.OfText.Text, 12) + ")"
			case b.OfToolResult != nil:
				k += "(" + b.OfToolResult.ToolUseID + "=" + cutText(toolResultText(b.OfToolResult), 12) + ")"
			}
			kinds = append(kinds, k)
		}
		parts = append(parts, strings.ToUpper(string(m.Role[0]))+":"+strings.Join(kinds, ","))
	}
	return strings.Join(parts, " ")
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClearOldToolResults: all but the last keep tool results become the note, each once,
// calls and results stay paired, and the history passed in is not changed.
func TestClearOldToolResults(t *testing.T) {
	turns := func(n int) []anthropic.BetaMessageParam {
		var msgs []anthropic.BetaMessageParam
		for i := range n {
			id := fmt.Sprint("t", i)
			msgs = append(msgs, userText("q"), assistantCall(id), userResult(id, "output "+id), assistantText("a"))
		}
		return msgs
	}
	cases := []struct {
		name    string
		msgs    []anthropic.BetaMessageParam
		keep    int
		cleared int
		kept    []string // results left as they were
	}{
		{"fewer than keep", turns(2), 3, 0, []string{"t0", "t1"}},
		{"exactly keep", turns(3), 3, 0, []string{"t0", "t1", "t2"}},
		{"older ones cleared", turns(5), 3, 2, []string{"t2", "t3", "t4"}},
		{"already cleared ones not counted", func() []anthropic.BetaMessageParam { m, _ := clearOldToolResults(turns(5), 3); return m }(), 3, 0, []string{"t2", "t3", "t4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := marshal(t, tc.msgs)
			out, n := clearOldToolResults(tc.msgs, tc.keep)
			if n != tc.cleared {
				t.Errorf("cleared %d, want %d", n, tc.cleared)
			}
			if marshal(t, tc.msgs) != before {
				t.Error("the history passed in was changed")
			}
			if len(out) != len(tc.msgs) {
				t.Fatalf("%d messages, want %d", len(out), len(tc.msgs))
			}
			var kept []string
			for i, m := range out {
				for _, b := range m.Content {
					if r := b.OfToolResult; r != nil {
						if text := toolResultText(r); text == "output "+r.ToolUseID {
							kept = append(kept, r.ToolUseID)
						} else if text != clearedToolResult {
							t.Errorf("result %s = %q", r.ToolUseID, text)
						}
						if prev := out[i-1].Content[0].OfToolUse; prev == nil || prev.ID != r.ToolUseID {
							t.Errorf("result %s no longer follows its call", r.ToolUseID)
						}
					}
				}
			}
			if strings.Join(kept, ",") != strings.Join(tc.kept, ",") {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
		})
	}
}

// TestAfterLatestCompaction: what precedes the latest compaction block with a summary is
// dropped; a failed compaction (null content) replaces nothing.
func TestAfterLatestCompaction(t *testing.T) {
	s1, s2 := "first summary", "second summary"
	cases := []struct {
		name string
		msgs []anthropic.BetaMessageParam
		want string
	}{
		{"no compaction", []anthropic.BetaMessageParam{userText("q"), assistantText("a")}, "U:text(q) A:text(a)"},
		{"compaction", []anthropic.BetaMessageParam{userText("q"), assistantText("a"), userText("q2"), compactionMsg(&s1, "a2"), userText("q3")},
			"A:compaction,text(a2) U:text(q3)"},
		{"the latest of two", []anthropic.BetaMessageParam{userText("q"), compactionMsg(&s1, "a"), userText("q2"), compactionMsg(&s2, "a2")},
			"A:compaction,text(a2)"},
		{"a failed compaction replaces nothing", []anthropic.BetaMessageParam{userText("q"), compactionMsg(&s1, "a"), userText("q2"), compactionMsg(nil, "a2")},
			"A:compaction,text(a) U:text(q2) A:compaction,text(a2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := shape(afterLatestCompaction(tc.msgs)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPlainHistory: for an endpoint without compaction, compaction blocks become text (or
// go, if they hold no summary), and the history starts with the user.
func TestPlainHistory(t *testing.T) {
	s := "the summary"
	cases := []struct {
		name string
		msgs []anthropic.BetaMessageParam
		want string
	}{
		{"nothing to change", []anthropic.BetaMessageParam{userText("q"), assistantText("a")}, "U:text(q) A:text(a)"},
		{"summary becomes text", []anthropic.BetaMessageParam{userText("old"), compactionMsg(&s, "a"), userText("q")},
			"U:text((The convers… [50 more bytes]) A:text([Summary of … [68 more bytes]),text(a) U:text(q)"},
		{"failed compaction dropped", []anthropic.BetaMessageParam{userText("q"), compactionMsg(nil, "a")}, "U:text(q) A:text(a)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := plainHistory(tc.msgs)
			if got := shape(out); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if b, _ := json.Marshal(out); strings.Contains(string(b), `"compaction"`) {
				t.Errorf("a compaction block is left: %s", b)
			}
		})
	}
}

// TestContextEdits: the request asks for clearing at two thirds of the threshold and for
// compaction at it, but never below the API's minimum.
func TestContextEdits(t *testing.T) {
	cases := []struct {
		compactAt                 int64
		clearAt, atLeast, compact int64
	}{
		{150_000, 100_000, 15_000, 150_000},
		{60_000, 40_000, 6_000, 60_000},
		{20_000, 13_333, 2_000, 50_000},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.compactAt), func(t *testing.T) {
			got := marshal(t, contextEdits(tc.compactAt))
			instructions := marshal(t, compactionInstructions)
			want := fmt.Sprintf(`{"edits":[{"clear_at_least":{"value":%d,"type":"input_tokens"},"keep":{"value":3,"type":"tool_uses"},"trigger":{"value":%d,"type":"input_tokens"},"type":"clear_tool_uses_20250919"},`+
				`{"instructions":%s,"trigger":{"value":%d,"type":"input_tokens"},"type":"compact_20260112"}]}`, tc.atLeast, tc.clearAt, instructions, tc.compact)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}
