package main

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
)

// Numbers of the long conversations: a 60k-token window, compaction asked for at 50k (the
// least the API accepts), about 2k tokens of tool output and 300 of answer a turn.
const (
	longWindow    = 60_000
	longCompactAt = "50000"
	longTurns     = 300
	longRunEvery  = 50 // the runner is restarted and resumes the session this often
)

// longConversation runs turns user messages through the real runner, restarted every
// longRunEvery turns on the stored session, against api, and returns what api saw.
func longConversation(tb testing.TB, api *contextAPI, turns int) contextStats {
	tb.Helper()
	// A turn takes milliseconds here, so the follow-ups' acknowledgements would pass the
	// socket's rate limit, which is made for turns that take seconds.
	h := newHarness(tb, api, func(c *agentsock.Config) { c.IPCRate = rate.Inf })
	h.runTimeout = 10 * time.Minute // 50 turns under the race detector on a busy machine
	h.env["NANOCLAW_COMPACT_AT"] = longCompactAt
	h.env["NANOCLAW_WEB_TOOLS"] = "0"
	req := baseRequest()
	session := ""
	for turn := range turns {
		text := fmt.Sprintf("Message %d: please look at the logs again and tell me what changed.", turn)
		if turn%longRunEvery == 0 {
			if turn > 0 {
				h.dropClose()
				h.exitCode()
			}
			req.SessionID, req.Prompt, req.RunID = session, text, ""
			h.start(req)
		} else {
			h.run.Push(text)
		}
		o := h.next()
		if o.Status != "success" || o.Result == nil || o.NewSessionID == "" {
			tb.Fatalf("turn %d: output %+v; mock %+v; stderr:\n%s", turn, o, api.snapshot(), h.stderr)
		}
		session = o.NewSessionID
	}
	h.dropClose()
	if code := h.exitCode(); code != 0 {
		tb.Fatalf("exit %d; stderr:\n%s", code, h.stderr)
	}
	return api.snapshot()
}

// TestLongConversation: 300 turns with 8 KB of bash output each run to the end, with no
// request over the model's window, both where the API clears and compacts (the history
// following what it did) and where the endpoint refuses that and the runner summarizes by
// itself (asking the endpoint once per run).
func TestLongConversation(t *testing.T) {
	cases := []struct {
		name  string
		edits bool
		check func(t *testing.T, s contextStats)
	}{
		{"server-side edits", true, func(t *testing.T, s contextStats) {
			if s.clears == 0 || s.compactions == 0 || s.summaries != 0 || s.refused != 0 {
				t.Errorf("want clears and compactions by the API and no summarizing by the runner: %+v", s)
			}
		}},
		{"summarizing fallback", false, func(t *testing.T, s contextStats) {
			if runs := (longTurns + longRunEvery - 1) / longRunEvery; s.refused != runs {
				t.Errorf("the betas were refused %d times, want once per run (%d)", s.refused, runs)
			}
			if s.summaries == 0 {
				t.Errorf("the runner never summarized: %+v", s)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := longConversation(t, newContextAPI(longWindow, tc.edits), longTurns)
			t.Logf("%d requests; largest context %d tokens, largest request sent %d tokens; %d compactions, %d clears, %d summaries, %d refusals",
				s.requests, s.maxTokens, s.maxSent, s.compactions, s.clears, s.summaries, s.refused)
			if s.tooLong != 0 || s.invalid != 0 || s.maxTokens > longWindow {
				t.Errorf("requests refused as too long or malformed: %+v", s)
			}
			// The history itself stays bounded, not only what the API lets through.
			if s.maxSent > longWindow {
				t.Errorf("a request of %d tokens was sent (window %d)", s.maxSent, longWindow)
			}
			tc.check(t, s)
		})
	}
}

// BenchmarkLongConversation reports, for the 300-turn conversation with and without the
// API's context management, the largest context the API saw (after its edits) and the
// largest request sent, in tokens, and how many requests it took (summarizing and refused
// ones included).
func BenchmarkLongConversation(b *testing.B) {
	for _, mode := range []struct {
		name  string
		edits bool
	}{{"server-edits", true}, {"summarizing", false}} {
		b.Run(mode.name, func(b *testing.B) {
			var s contextStats
			for b.Loop() {
				s = longConversation(b, newContextAPI(longWindow, mode.edits), longTurns)
			}
			b.ReportMetric(float64(s.maxTokens), "max-context-tokens")
			b.ReportMetric(float64(s.maxSent), "max-request-tokens")
			b.ReportMetric(float64(s.requests), "requests")
		})
	}
}
