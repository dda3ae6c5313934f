package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

func errorBody(kind, msg string) string {
	return fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":%q}}`, kind, msg)
}

// TestRefusedContextEdits: an endpoint that refuses the context-management betas (400
// naming them) gets the same request again without them, and no request of the run asks
// again; any other bad request is a failure as before.
func TestRefusedContextEdits(t *testing.T) {
	cases := []struct {
		name     string
		msg      string
		fallback bool
	}{
		{"unknown beta", "Unexpected value(s) `context-management-2025-06-27`, `compact-2026-01-12` for the `anthropic-beta` header.", true},
		{"unknown field", "context_management: Extra inputs are not permitted", true},
		{"unknown edit", "context_management.edits.1: Input tag 'compact_20260112' found using 'type' does not match any of the expected tags", true},
		{"another bad request", "max_tokens: 16384 > 8192, which is the maximum allowed number of output tokens", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &mockAPI{}
			h := newHarness(t, api)
			api.script = func(n int, body map[string]any) (int, string) {
				if body["context_management"] != nil {
					return http.StatusBadRequest, errorBody("invalid_request_error", tc.msg)
				}
				if n == 1 {
					h.run.Push("and another thing")
				}
				return textResp(fmt.Sprint("answer ", n))
			}
			h.start(baseRequest())
			o := h.next()
			if !tc.fallback {
				h.exitCode()
				if o.Status != "error" || o.ErrorKind != runproto.ErrorConfig || len(api.requests()) != 1 {
					t.Fatalf("output %+v after %d requests, want one config failure", o, len(api.requests()))
				}
				return
			}
			o2 := h.next()
			h.dropClose()
			h.exitCode()
			if o.Status != "success" || o2.Status != "success" {
				t.Fatalf("outputs %+v %+v; stderr:\n%s", o, o2, h.stderr)
			}
			reqs := api.requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3 (refused, sent again, the follow-up)", len(reqs))
			}
			for i, r := range reqs {
				asked := r["context_management"] != nil || api.headers[i].Get("Anthropic-Beta") != ""
				if asked != (i == 0) {
					t.Errorf("request %d asked for context management: %v (beta %q)", i, asked, api.headers[i].Get("Anthropic-Beta"))
				}
			}
			if got := userTexts(reqs[1]); !slices.Equal(got, []string{"hello"}) {
				t.Errorf("the request sent again holds %q", got)
			}
		})
	}
}

// TestPromptTooLong: a request the API finds too long is sent again once, with the older
// part of the conversation replaced by a summary; a summary that cannot be had, or a request
// still too long, is a context failure (the host then starts a new conversation), except
// when the summarizing request met an outage, which is retried later with the conversation.
func TestPromptTooLong(t *testing.T) {
	tooLong := errorBody("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
	cases := []struct {
		name      string
		resume    bool
		stillLong bool // the request after the summary is too long too
		summary   func() (int, string)
		kind      string // "" = success
		summaries int
	}{
		{"summarized and sent again", true, false, func() (int, string) { return textResp("<summary>they asked about 42</summary>") }, "", 1},
		{"still too long", true, true, func() (int, string) { return textResp("<summary>s</summary>") }, runproto.ErrorContext, 1},
		{"the summary is too long", true, false, func() (int, string) { return http.StatusBadRequest, tooLong }, runproto.ErrorContext, 1},
		{"the summary is refused", true, false, func() (int, string) {
			return http.StatusBadRequest, errorBody("invalid_request_error", "messages: text content blocks must be non-empty")
		}, runproto.ErrorContext, 1},
		{"the summary meets an outage", true, false, func() (int, string) {
			return 529, errorBody("overloaded_error", "Overloaded")
		}, runproto.ErrorTransient, 1},
		{"nothing older to summarize", false, false, nil, runproto.ErrorContext, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var refuse atomic.Bool
			api := &mockAPI{script: func(n int, body map[string]any) (int, string) {
				switch {
				case body["tools"] == nil:
					return tc.summary()
				case refuse.Load():
					if !tc.stillLong {
						refuse.Store(false)
					}
					return http.StatusBadRequest, tooLong
				}
				return textResp(fmt.Sprint("answer ", n))
			}}
			h := newHarness(t, api)
			req := baseRequest()
			if tc.resume {
				req.Prompt = "remember 42"
				h.start(req)
				o := h.next()
				h.dropClose()
				h.exitCode()
				req.SessionID = o.NewSessionID
			}
			refuse.Store(true)
			req.Prompt = "what number?"
			h.start(req)
			o := h.next()
			h.dropClose()
			h.exitCode()
			if tc.kind == "" && o.Status != "success" || tc.kind != "" && (o.Status != "error" || o.ErrorKind != tc.kind) {
				t.Fatalf("output %+v, want kind %q; stderr:\n%s", o, tc.kind, h.stderr)
			}
			var summaries []map[string]any
			for _, r := range api.requests() {
				if r["tools"] == nil {
					summaries = append(summaries, r)
				}
			}
			if len(summaries) != tc.summaries {
				t.Fatalf("%d summarizing requests, want %d", len(summaries), tc.summaries)
			}
			if tc.summaries > 0 {
				// A plain request: the transcript as text, no beta features.
				if got := userTexts(summaries[0]); len(got) != 1 || !strings.Contains(got[0], "User: remember 42") || summaries[0]["context_management"] != nil {
					t.Errorf("summarizing request %v", summaries[0])
				}
			}
			if tc.kind == "" {
				reqs := api.requests()
				got := userTexts(reqs[len(reqs)-1])
				if len(got) != 2 || got[0] != summaryHeader+"<summary>they asked about 42</summary>" || got[1] != "what number?" {
					t.Errorf("the request sent again holds %q", got)
				}
			}
		})
	}
}

// TestInterruptedTurnLeavesSession: a turn cut short by the host going away (the run's
// context cancelled while the model answers, or while a tool runs) leaves the stored session
// as it was, and the next run's history holds the prompt once.
func TestInterruptedTurnLeavesSession(t *testing.T) {
	cases := []struct {
		name string
		tool bool // interrupted while bash runs, else during a model request
	}{
		{"during a model request", false},
		{"during a tool run", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			var phase atomic.Int32 // 0 = first run, 1 = the interrupted run, 2 = the next run
			ready := filepath.Join(t.TempDir(), "ready")
			if err := syscall.Mkfifo(ready, 0o600); err != nil {
				t.Fatal(err)
			}
			api := &mockAPI{}
			api.script = func(n int, body map[string]any) (int, string) {
				if phase.Load() == 1 && tc.tool && len(toolResults(body)) == 0 {
					// Tell the test the tool runs, then block until the run is stopped.
					return toolUse("tu_block", "bash", map[string]any{"command": "echo started > " + ready + "; cat " + ready + ".never"})
				}
				return textResp(fmt.Sprint("answer ", n))
			}
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if phase.Load() == 1 && !tc.tool {
					h.cancel()
					select { // the runner hangs up
					case <-r.Context().Done():
					case <-time.After(testDeadline):
					}
					return
				}
				api.ServeHTTP(w, r)
			})
			h = newHarness(t, handler)
			if err := syscall.Mkfifo(ready+".never", 0o600); err != nil {
				t.Fatal(err)
			}
			req := baseRequest()
			req.Prompt = "remember 42"
			h.start(req)
			o := h.next()
			h.dropClose()
			h.exitCode()
			session := filepath.Join(h.home, ".nanoclaw", "sessions", o.NewSessionID+".json")
			before, err := os.ReadFile(session)
			if err != nil {
				t.Fatal(err)
			}

			phase.Store(1)
			req.SessionID, req.Prompt = o.NewSessionID, "what number?"
			h.start(req)
			if tc.tool {
				f, err := os.Open(ready) // blocks until bash opens it to write
				if err != nil {
					t.Fatal(err)
				}
				line, _ := io.ReadAll(f)
				f.Close()
				if string(line) != "started\n" {
					t.Fatalf("the tool wrote %q", line)
				}
				h.cancel()
			}
			if code := h.exitCode(); code == 0 {
				t.Fatalf("the interrupted run exited 0; stderr:\n%s", h.stderr)
			}
			if after, _ := os.ReadFile(session); string(after) != string(before) {
				t.Fatalf("the interrupted turn changed the stored session:\n%s\nwas\n%s", after, before)
			}

			phase.Store(2)
			h.start(req)
			if o := h.next(); o.Status != "success" {
				t.Fatalf("the next run: %+v", o)
			}
			h.dropClose()
			h.exitCode()
			reqs := api.requests()
			if got := userTexts(reqs[len(reqs)-1]); !slices.Equal(got, []string{"remember 42", "what number?"}) {
				t.Fatalf("the next run's user turns %q, want each once", got)
			}
			if tr := toolResults(reqs[len(reqs)-1]); len(tr) != 0 {
				t.Errorf("the interrupted tool call reached the next run: %v", tr)
			}
		})
	}
}

// TestCompactionStored: a compaction block the API returns is stored in the session as it
// came, what it replaced is dropped from the session, and the next run sends it back first,
// unchanged, with the context-management request; a failed compaction (no summary)
// replaces nothing and is sent back as it came.
func TestCompactionStored(t *testing.T) {
	cases := []struct {
		name    string
		summary any
		// the resumed request's messages: the compaction message first, or the whole history
		first string
	}{
		{"summary", "SUMMARY-1", "compaction"},
		{"failed compaction", nil, "text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			block := map[string]any{"type": "compaction", "content": tc.summary, "encrypted_content": "opaque-state-1"}
			api := &mockAPI{script: func(n int, body map[string]any) (int, string) {
				switch n {
				case 0:
					return toolUse("tu_1", "bash", map[string]any{"command": "echo tool-output-marker"})
				case 1:
					return msgResp("end_turn", block, map[string]any{"type": "text", "text": "compacted answer"})
				}
				return textResp("next answer")
			}}
			h := newHarness(t, api)
			req := baseRequest()
			req.Prompt = "first prompt"
			h.start(req)
			o := h.next()
			h.dropClose()
			h.exitCode()
			if o.Result == nil || *o.Result != "compacted answer" {
				t.Fatalf("output %+v", o)
			}
			stored, err := os.ReadFile(filepath.Join(h.home, ".nanoclaw", "sessions", o.NewSessionID+".json"))
			if err != nil {
				t.Fatal(err)
			}
			wantBlock, _ := json.Marshal(block)
			if !strings.Contains(string(stored), string(wantBlock)) {
				t.Errorf("the session lacks the compaction block %s:\n%s", wantBlock, stored)
			}
			if dropped := !strings.Contains(string(stored), "first prompt"); dropped != (tc.summary != nil) {
				t.Errorf("what the compaction replaced dropped from the session: %v, want %v:\n%s", dropped, tc.summary != nil, stored)
			}

			req.SessionID, req.Prompt = o.NewSessionID, "second prompt"
			h.start(req)
			if o := h.next(); o.Status != "success" {
				t.Fatalf("resumed: %+v; stderr:\n%s", o, h.stderr)
			}
			h.dropClose()
			h.exitCode()
			reqs := api.requests()
			resumed := reqs[len(reqs)-1]
			msgs := resumed["messages"].([]any)
			first := msgs[0].(map[string]any)["content"].([]any)[0].(map[string]any)
			if first["type"] != tc.first {
				t.Fatalf("the resumed request starts with %v", first)
			}
			var sent map[string]any
			for _, m := range msgs {
				for _, b := range m.(map[string]any)["content"].([]any) {
					if b.(map[string]any)["type"] == "compaction" {
						sent = b.(map[string]any)
					}
				}
			}
			if got, _ := json.Marshal(sent); string(got) != string(wantBlock) {
				t.Errorf("compaction block sent back %s, want %s", got, wantBlock)
			}
			if got := userTexts(resumed); got[len(got)-1] != "second prompt" {
				t.Errorf("user texts %q", got)
			}
			beta := api.headers[len(reqs)-1].Get("Anthropic-Beta")
			if !strings.Contains(beta, "compact-2026-01-12") || !strings.Contains(beta, "context-management-2025-06-27") {
				t.Errorf("anthropic-beta %q", beta)
			}
			if got, want := canonical(t, resumed["context_management"]), canonical(t, contextEdits(defaultCompactAt)); got != want {
				t.Errorf("context_management %s, want %s", got, want)
			}
		})
	}
}

// canonical is v as JSON with sorted keys (the SDK writes params in field order).
func canonical(t *testing.T, v any) string {
	t.Helper()
	var x any
	if err := json.Unmarshal([]byte(marshal(t, v)), &x); err != nil {
		t.Fatal(err)
	}
	return marshal(t, x)
}

// TestCompactAtFromRequest: the host's NANOCLAW_COMPACT_AT, in the run request, wins over
// the runner's environment and sets the edits' triggers (never under the least the runner
// accepts).
func TestCompactAtFromRequest(t *testing.T) {
	cases := []struct {
		name    string
		request int64
		env     string
		want    int64
	}{
		{"from the request", 70_000, "60000", 70_000},
		{"from the environment", 0, "60000", 60_000},
		{"the default", 0, "", defaultCompactAt},
		{"too small", 10, "", minCompactAt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &mockAPI{script: func(int, map[string]any) (int, string) { return textResp("ok") }}
			h := newHarness(t, api)
			h.env["NANOCLAW_COMPACT_AT"] = tc.env
			req := baseRequest()
			req.CompactAt = tc.request
			h.start(req)
			h.next()
			h.dropClose()
			h.exitCode()
			if got, want := canonical(t, api.requests()[0]["context_management"]), canonical(t, contextEdits(tc.want)); got != want {
				t.Errorf("context_management %s, want %s", got, want)
			}
		})
	}
}
