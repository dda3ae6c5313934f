package main

import (
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
)

// TestSummaryCut: the verbatim tail starts at an assistant message (so no tool call loses its
// result), as early as the budget allows, always holds the last assistant message, and
// there is no cut when only an earlier summary would be summarized.
func TestSummaryCut(t *testing.T) {
	chat := []anthropic.BetaMessageParam{userText("q0"), assistantText("a0"), userText("q1"), assistantText("a1"), userText("q2")}
	tools := []anthropic.BetaMessageParam{userText("q"), assistantCall("t0"), userResult("t0", strings.Repeat("x", 4000)), assistantCall("t1"), userResult("t1", "y"), assistantText("a"), userText("q2")}
	summarized := []anthropic.BetaMessageParam{userText(summaryHeader + "s"), assistantText("a"), userText("q")}
	cases := []struct {
		name string
		msgs []anthropic.BetaMessageParam
		keep int64
		want int
	}{
		{"everything fits: keep all but the first message", chat, 1000, 1},
		{"nothing fits: the last assistant message", chat, 0, 3},
		{"a big result is summarized, later calls kept", tools, 100, 3},
		{"the budget reaches back to a call", tools, 2000, 1},
		{"one message", chat[:1], 1000, -1},
		{"only a summary before", summarized, 1000, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := summaryCut(tc.msgs, tc.keep)
			if got != tc.want {
				t.Fatalf("cut %d, want %d (%s)", got, tc.want, shape(tc.msgs))
			}
			if got > 0 && tc.msgs[got].Role != anthropic.BetaMessageParamRoleAssistant {
				t.Errorf("the tail starts with a %s message", tc.msgs[got].Role)
			}
		})
	}
}

// TestTranscript: the summarizer gets every message as text, tools by name, long tool
// inputs and outputs cut, an earlier compaction's summary included.
func TestTranscript(t *testing.T) {
	s := "what came first"
	msgs := []anthropic.BetaMessageParam{
		compactionMsg(&s, "ok"),
		userText("hello"),
		assistantCall("t0"),
		userResult("t0", strings.Repeat("x", 5000)),
		assistantText("done"),
	}
	got := transcript(msgs)
	for _, want := range []string{
		"Summary of what came before: what came first\n",
		"Assistant: ok\n",
		"User: hello\n",
		`Assistant used the tool bash: {"command":"cat t0"}` + "\n",
		"Tool bash result: " + strings.Repeat("x", transcriptCut) + "… [3000 more bytes]\n",
		"Assistant: done\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, strings.Repeat("x", transcriptCut+1)) {
		t.Error("a tool result was not cut")
	}
}

// TestGauge: with a response's usage known, the next request is that usage plus what was
// added since; without, the whole request is estimated from its size.
func TestGauge(t *testing.T) {
	msgs := []anthropic.BetaMessageParam{userText(strings.Repeat("a", 4000)), assistantText("b"), userText(strings.Repeat("c", 400))}
	last := messageTokens(msgs[2])
	all := messagesTokens(msgs)
	cases := []struct {
		name  string
		usage *anthropic.BetaUsage
		added int
		want  int64
	}{
		{"unknown", nil, 1, 500 + all},
		{"known, one message added", &anthropic.BetaUsage{InputTokens: 100, CacheReadInputTokens: 1000, CacheCreationInputTokens: 50, OutputTokens: 20}, 1, 1170 + last},
		{"known, nothing added", &anthropic.BetaUsage{InputTokens: 100, OutputTokens: 20}, 0, 120},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var g contextGauge
			if tc.usage != nil {
				g.observe(*tc.usage)
			}
			if got := g.estimate(500, msgs, tc.added); got != tc.want {
				t.Errorf("estimate %d, want %d", got, tc.want)
			}
			g.forget()
			if got := g.estimate(500, msgs, tc.added); got != 500+all {
				t.Errorf("after forget: %d, want %d", got, 500+all)
			}
		})
	}
}
