package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

const testDeadline = 15 * time.Second

// mockAPI is a scripted Messages API served over a real Unix socket.
type mockAPI struct {
	mu      sync.Mutex
	reqs    []map[string]any
	headers []http.Header
	script  func(n int, body map[string]any) (status int, resp string)
}

func (m *mockAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		http.Error(w, `{"type":"error","error":{"type":"not_found_error","message":"no"}}`, http.StatusNotFound)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	n := len(m.reqs)
	m.reqs = append(m.reqs, body)
	m.headers = append(m.headers, r.Header.Clone())
	m.mu.Unlock()
	status, resp := m.script(n, body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, resp)
}

func (m *mockAPI) requests() []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]map[string]any(nil), m.reqs...)
}

func msgResp(stop string, blocks ...map[string]any) (int, string) {
	b, _ := json.Marshal(map[string]any{
		"id": "msg_test", "type": "message", "role": "assistant", "model": "claude-test",
		"content": blocks, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 1, "output_tokens": 1},
	})
	return http.StatusOK, string(b)
}

func textResp(s string) (int, string) {
	return msgResp("end_turn", map[string]any{"type": "text", "text": s})
}

func toolUse(id, name string, input any) (int, string) {
	return msgResp("tool_use", map[string]any{"type": "tool_use", "id": id, "name": name, "input": input})
}

// harness runs run() in-process against a temp workspace and the host's real agent socket
// (host/agentsock), whose model API is the mock and whose IPC service records requests.
type harness struct {
	t       testing.TB
	ws      string
	home    string
	env     map[string]string
	ipc     *recordingIPC
	sock    *agentsock.Server
	run     *agentsock.Run
	runs    int
	outputs chan output
	stderr  *syncBuffer
	done    chan int
	cancel  context.CancelFunc // ends the current run's context, as an interrupted host
	// runTimeout bounds each run (testDeadline unless a test needs longer runs).
	runTimeout time.Duration
}

// recordingIPC performs every request and keeps it.
type recordingIPC struct {
	mu   sync.Mutex
	reqs []map[string]any
}

func (r *recordingIPC) Handle(_ context.Context, group string, body []byte) runproto.IPCResponse {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, m)
	return runproto.IPCResponse{OK: true}
}

func (r *recordingIPC) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHarness builds the harness; opts adjust the agent socket's configuration.
func newHarness(t testing.TB, api http.Handler, opts ...func(*agentsock.Config)) *harness {
	t.Helper()
	root := t.TempDir()
	ws := filepath.Join(root, "workspace")
	for _, d := range []string{"group", "global", "project", "extra/notes"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Unix socket paths are limited to ~108 bytes; t.TempDir() can be long.
	sockDir, err := os.MkdirTemp("", "ar")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	h := &harness{t: t, ws: ws, home: filepath.Join(root, "home"), ipc: &recordingIPC{}, runTimeout: testDeadline}
	cfg := agentsock.Config{Dir: sockDir, UID: -1, GID: -1, IPC: h.ipc,
		Model: func(string) http.Handler { return api }}
	for _, o := range opts {
		o(&cfg)
	}
	h.sock, err = agentsock.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.sock.Close() })
	dir, err := h.sock.Listen("whatsapp_family")
	if err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{
		"NANOCLAW_WORKSPACE":   ws,
		"NANOCLAW_SOCKET":      filepath.Join(dir, agentsock.SocketName),
		"NANOCLAW_MAX_RETRIES": "0",
		"HOME":                 h.home,
	}
	return h
}

// newRun attaches a fresh run to the socket, as the host does before each container, and
// returns its id for the run request.
func (h *harness) newRun() string {
	h.t.Helper()
	if h.run != nil {
		h.run.End()
	}
	h.runs++
	var err error
	h.run, err = h.sock.StartRun("whatsapp_family", fmt.Sprint("run-", h.runs))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.run.ID()
}

func (h *harness) start(req runRequest) {
	h.t.Helper()
	if req.RunID == "" {
		req.RunID = h.newRun()
	}
	// The parser keeps its own channel: the next start replaces h.outputs while it may
	// still be closing this one.
	outputs := make(chan output, 16)
	h.outputs = outputs
	h.stderr = &syncBuffer{}
	done := make(chan int, 1)
	h.done = done
	in, _ := json.Marshal(req)
	pr, pw := io.Pipe()
	go func() { // parse marker blocks off stdout as they come
		defer close(outputs)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		state := 0
		for sc.Scan() {
			line := sc.Text()
			switch {
			case state == 0 && line == outputStartMarker:
				state = 1
			case state == 1:
				var o output
				if err := json.Unmarshal([]byte(line), &o); err != nil {
					o = output{Status: "unparsable:" + line}
				}
				outputs <- o
				state = 2
			case state == 2 && line == outputEndMarker:
				state = 0
			default:
				outputs <- output{Status: "stray stdout line: " + line}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), h.runTimeout)
	h.cancel = cancel
	getenv := func(k string) string { return h.env[k] }
	go func() {
		defer cancel()
		code := run(ctx, bytes.NewReader(in), pw, h.stderr, getenv)
		pw.Close()
		done <- code
	}()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testDeadline):
		}
	})
}

func (h *harness) next() output {
	h.t.Helper()
	select {
	case o, ok := <-h.outputs:
		if !ok {
			h.t.Fatalf("stdout closed, no more output; stderr:\n%s", h.stderr)
		}
		return o
	case <-time.After(testDeadline):
		h.t.Fatalf("no output within %v; stderr:\n%s", testDeadline, h.stderr)
	}
	return output{}
}

func (h *harness) exitCode() int {
	h.t.Helper()
	select {
	case c := <-h.done:
		h.done <- c
		return c
	case <-time.After(testDeadline):
		h.t.Fatalf("run did not exit; stderr:\n%s", h.stderr)
	}
	return -1
}

func (h *harness) path(rel string) string { return filepath.Join(h.ws, rel) }

// dropClose asks the run to finish, as the host does at the idle timeout.
func (h *harness) dropClose() {
	h.t.Helper()
	h.run.Close()
}

// toolResults returns the tool_result blocks of the last message of a request.
func toolResults(body map[string]any) []map[string]any {
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		return nil
	}
	last, _ := msgs[len(msgs)-1].(map[string]any)
	content, _ := last["content"].([]any)
	var out []map[string]any
	for _, c := range content {
		if b, ok := c.(map[string]any); ok && b["type"] == "tool_result" {
			out = append(out, b)
		}
	}
	return out
}

func resultText(b map[string]any) string {
	var sb strings.Builder
	switch c := b["content"].(type) {
	case string:
		sb.WriteString(c)
	case []any:
		for _, x := range c {
			if m, ok := x.(map[string]any); ok {
				s, _ := m["text"].(string)
				sb.WriteString(s)
			}
		}
	}
	return sb.String()
}

// userTexts returns every text of every user message in a request, in order.
func userTexts(body map[string]any) []string {
	var out []string
	msgs, _ := body["messages"].([]any)
	for _, x := range msgs {
		m, _ := x.(map[string]any)
		if m["role"] != "user" {
			continue
		}
		switch c := m["content"].(type) {
		case string:
			out = append(out, c)
		case []any:
			for _, y := range c {
				if b, ok := y.(map[string]any); ok && b["type"] == "text" {
					out = append(out, b["text"].(string))
				}
			}
		}
	}
	return out
}

func baseRequest() runRequest {
	return runRequest{
		Prompt: "hello", GroupFolder: "whatsapp_family", ChatJID: "123@g.us",
		AssistantName: "Andy",
	}
}

// TestToolTurns: bash writes into the group folder, send_message reaches the host over the
// socket, schedule_task with a bad cron is a tool error that sends nothing, the final text
// comes out between the markers with a new session id and the input it answers.
func TestToolTurns(t *testing.T) {
	api := &mockAPI{}
	h := newHarness(t, api)
	os.WriteFile(h.path("group/CLAUDE.md"), []byte("GROUP-MEMORY-MARKER"), 0o644)
	os.WriteFile(h.path("global/CLAUDE.md"), []byte("GLOBAL-MEMORY-MARKER"), 0o644)
	api.script = func(n int, body map[string]any) (int, string) {
		switch n {
		case 0:
			// Double-quoted "!" hangs an unprimed PTY shell: this also checks the set +H priming.
			return toolUse("tu_bash", "bash", map[string]any{"command": `echo "made by bash!" > made.txt && id -u`})
		case 1:
			return toolUse("tu_send", "send_message", map[string]any{"text": "progress update", "sender": "Researcher"})
		case 2:
			return toolUse("tu_sched", "schedule_task", map[string]any{"prompt": "p", "schedule_type": "cron", "schedule_value": "not a cron"})
		default:
			return textResp("All done.")
		}
	}
	h.start(baseRequest())
	o := h.next()
	h.dropClose()
	if code := h.exitCode(); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, h.stderr)
	}
	if o.Status != "success" || o.Result == nil || *o.Result != "All done." || o.NewSessionID == "" || o.Error != "" {
		t.Fatalf("output = %+v", o)
	}

	reqs := api.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	// (1) bash
	b, err := os.ReadFile(h.path("group/made.txt"))
	if err != nil || string(b) != "made by bash!\n" {
		t.Errorf("made.txt = %q, %v", b, err)
	}
	if tr := toolResults(reqs[1]); len(tr) != 1 || tr[0]["is_error"] == true || tr[0]["tool_use_id"] != "tu_bash" {
		t.Errorf("bash tool_result = %v", tr)
	}
	// (2) send_message
	sent := h.ipc.all()
	if len(sent) != 1 {
		t.Fatalf("IPC requests = %v", sent)
	}
	msg := sent[0]
	want := map[string]any{"type": "message", "chatJid": "123@g.us", "text": "progress update", "sender": "Researcher", "groupFolder": "whatsapp_family"}
	for k, v := range want {
		if msg[k] != v {
			t.Errorf("message[%s] = %v, want %v", k, msg[k], v)
		}
	}
	if ts, _ := msg["timestamp"].(string); ts == "" {
		t.Error("message has no timestamp")
	}
	if tr := toolResults(reqs[2]); len(tr) != 1 || resultText(tr[0]) != "Message sent." {
		t.Errorf("send_message result = %v", tr)
	}
	// (3) invalid cron
	if tr := toolResults(reqs[3]); len(tr) != 1 || tr[0]["is_error"] != true || !strings.Contains(resultText(tr[0]), "Invalid cron") {
		t.Errorf("schedule_task result = %v", tr)
	}
	if len(o.Inputs) != 1 || o.Inputs[0] != runproto.PromptInput {
		t.Errorf("the result answers %v, want the prompt", o.Inputs)
	}
	// Request shape: system prompt, tools, placeholder key.
	sys, _ := json.Marshal(reqs[0]["system"])
	for _, s := range []string{"GROUP-MEMORY-MARKER", "GLOBAL-MEMORY-MARKER", "Andy"} {
		if !strings.Contains(string(sys), s) {
			t.Errorf("system prompt lacks %q: %s", s, sys)
		}
	}
	names := map[string]bool{}
	for _, x := range reqs[0]["tools"].([]any) {
		tool := x.(map[string]any)
		names[tool["name"].(string)] = true
		if want := map[any]string{"web_search": "web_search_20250305", "web_fetch": "web_fetch_20250910"}[tool["name"]]; want != "" && tool["type"] != want {
			t.Errorf("server tool %v has type %v, want %s", tool["name"], tool["type"], want)
		}
	}
	for _, n := range []string{"bash", "read", "write", "edit", "glob", "grep", "send_message", "schedule_task", "list_tasks", "pause_task", "resume_task", "cancel_task", "update_task", "register_group", "web_search", "web_fetch"} {
		if !names[n] {
			t.Errorf("tool %s missing from request: %v", n, names)
		}
	}
	if k := api.headers[0].Get("X-Api-Key"); k != "placeholder" {
		t.Errorf("X-Api-Key = %q", k)
	}
	// The session was saved.
	if _, err := os.Stat(filepath.Join(h.home, ".nanoclaw", "sessions", o.NewSessionID+".json")); err != nil {
		t.Errorf("session file: %v", err)
	}
}

// TestResume: a second run with the session id sends the prior history; a corrupt or
// missing session starts fresh with a log line.
func TestResume(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) {
		return textResp(fmt.Sprintf("answer %d", n))
	}}
	h := newHarness(t, api)

	req := baseRequest()
	req.Prompt = "remember 42"
	h.start(req)
	o1 := h.next()
	h.dropClose()
	h.exitCode()
	if o1.NewSessionID == "" || o1.Result == nil || *o1.Result != "answer 0" {
		t.Fatalf("first output %+v", o1)
	}

	req.Prompt = "what number?"
	req.SessionID = o1.NewSessionID
	h.start(req)
	o2 := h.next()
	h.dropClose()
	h.exitCode()
	if o2.NewSessionID != o1.NewSessionID {
		t.Errorf("resumed session id %q, want %q", o2.NewSessionID, o1.NewSessionID)
	}
	reqs := api.requests()
	msgs := reqs[1]["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("resumed request has %d messages, want 3: %v", len(msgs), msgs)
	}
	if got := userTexts(reqs[1]); len(got) != 2 || got[0] != "remember 42" || got[1] != "what number?" {
		t.Errorf("user texts %q", got)
	}
	prior, _ := json.Marshal(msgs[1])
	if !strings.Contains(string(prior), "answer 0") || msgs[1].(map[string]any)["role"] != "assistant" {
		t.Errorf("prior assistant turn missing: %s", prior)
	}

	// Corrupt session file: archived (kept for inspection, never offered again), and the
	// chat told in one line before the answer; a missing one is told too.
	sessions := filepath.Join(h.home, ".nanoclaw", "sessions")
	os.WriteFile(filepath.Join(sessions, "broken.json"), []byte("{not json"), 0o600)
	for _, id := range []string{"broken", "missing-one", "../escape"} {
		req.SessionID = id
		req.Prompt = "fresh " + id
		h.start(req)
		n := h.next()
		o := h.next()
		h.dropClose()
		h.exitCode()
		if n.Status != runproto.StatusNotice || !strings.Contains(n.Notice, "fresh start") || n.Result != nil || len(n.Inputs) != 0 {
			t.Errorf("%s: first output %+v, want a notice of a fresh start", id, n)
		}
		if id == "broken" {
			if !strings.Contains(n.Notice, "broken.unloadable-") {
				t.Errorf("notice %q does not name the archived file", n.Notice)
			}
			if _, err := os.Stat(filepath.Join(sessions, "broken.json")); !os.IsNotExist(err) {
				t.Errorf("the corrupt session is still offered: %v", err)
			}
			if m, _ := filepath.Glob(filepath.Join(sessions, "broken.unloadable-*.json")); len(m) != 1 {
				t.Errorf("archived copies %v, want one", m)
			} else if b, _ := os.ReadFile(m[0]); string(b) != "{not json" {
				t.Errorf("archive holds %q", b)
			}
		}
		if o.Status != "success" || o.NewSessionID == "" || o.NewSessionID == id {
			t.Errorf("%s: output %+v", id, o)
		}
		if !strings.Contains(h.stderr.String(), "starting a fresh session") {
			t.Errorf("%s: no fresh-start log line:\n%s", id, h.stderr)
		}
		reqs := api.requests()
		if got := userTexts(reqs[len(reqs)-1]); len(got) != 1 || got[0] != "fresh "+id {
			t.Errorf("%s: fresh request user texts %q", id, got)
		}
	}
}

// TestFollowUps: a follow-up pushed mid-turn becomes the next user turn, acknowledged and
// named in that turn's result; one pushed while the runner idles is picked up at once;
// close ends the run. Each result names exactly the inputs it answers.
func TestFollowUps(t *testing.T) {
	api := &mockAPI{}
	h := newHarness(t, api)
	api.script = func(n int, body map[string]any) (int, string) {
		if n == 0 {
			h.run.Push("follow-up one")
		}
		return textResp(fmt.Sprintf("reply %d", n))
	}
	h.start(baseRequest())
	for i, want := range [][]int64{{0}, {1}} {
		o := h.next()
		if o.Result == nil || *o.Result != fmt.Sprintf("reply %d", i) || !slices.Equal(o.Inputs, want) {
			t.Fatalf("output %d = %+v, want inputs %v", i+1, o, want)
		}
	}
	h.run.Push("follow-up two")
	h.run.Push("follow-up three")
	o := h.next()
	if o.Result == nil || *o.Result != "reply 2" {
		t.Fatalf("output 3 = %+v", o)
	}
	// Both may have come together (one turn) or apart (two): every id is answered once.
	answered := slices.Clone(o.Inputs)
	if len(answered) == 1 {
		o4 := h.next()
		answered = append(answered, o4.Inputs...)
	}
	if !slices.Equal(answered, []int64{2, 3}) {
		t.Fatalf("answered %v, want [2 3]", answered)
	}
	if left := h.run.Unacked(); len(left) != 0 {
		t.Errorf("unacknowledged after their turns: %v", left)
	}
	h.dropClose()
	if code := h.exitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	reqs := api.requests()
	if got := userTexts(reqs[1]); len(got) != 2 || got[1] != "follow-up one" {
		t.Errorf("request 2 user texts %q", got)
	}
	if got := userTexts(reqs[2]); !strings.Contains(strings.Join(got, "\n"), "follow-up two") {
		t.Errorf("request 3 user texts %q", got)
	}
}

// TestEarlyFollowUps: follow-ups that reach the host while the container starts join the
// first prompt, and the first result answers them too.
func TestEarlyFollowUps(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) { return textResp("ok") }}
	h := newHarness(t, api)
	id := h.newRun()
	h.run.Push("early one")
	h.run.Push("early two")
	req := baseRequest()
	req.RunID = id
	h.start(req)
	if o := h.next(); !slices.Equal(o.Inputs, []int64{0, 1, 2}) {
		t.Fatalf("output %+v, want inputs [0 1 2]", o)
	}
	h.dropClose()
	h.exitCode()
	if got := userTexts(api.requests()[0]); len(got) != 1 || got[0] != "hello\nearly one\nearly two" {
		t.Errorf("first prompt %q", got)
	}
}

// TestCloseDuringTurn: close requested while a turn runs ends the run right after that turn;
// a follow-up that comes after the close is left unacknowledged for a later run. (Pushed
// before the close, the runner may read the follow-up first, with no way to know a close is
// coming, and rightly take it: the test raced on that, failing once in a full run.)
func TestCloseDuringTurn(t *testing.T) {
	api := &mockAPI{}
	h := newHarness(t, api)
	api.script = func(n int, body map[string]any) (int, string) {
		h.run.Close()
		h.run.Push("too late")
		return textResp("bye")
	}
	h.start(baseRequest())
	if o := h.next(); o.Result == nil || *o.Result != "bye" {
		t.Fatalf("output %+v", o)
	}
	if code := h.exitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if left := h.run.Unacked(); !slices.Equal(left, []int64{1}) {
		t.Errorf("unacknowledged %v, want [1]", left)
	}
}

// TestHostGone: when the run's stream ends (the host went away), the runner finishes after
// its turn instead of waiting forever.
func TestHostGone(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) { return textResp("ok") }}
	h := newHarness(t, api)
	h.start(baseRequest())
	h.next()
	h.run.End()
	if code := h.exitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestAPIError: an API failure is an error output and exit 1; web tools can be turned off.
func TestAPIError(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) {
		return http.StatusBadRequest, `{"type":"error","error":{"type":"invalid_request_error","message":"boom"}}`
	}}
	h := newHarness(t, api)
	h.env["NANOCLAW_WEB_TOOLS"] = "0"
	h.env["NANOCLAW_MODEL"] = "claude-test-model"
	h.start(baseRequest())
	o := h.next()
	if code := h.exitCode(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if o.Status != "error" || !strings.Contains(o.Error, "boom") || o.Result != nil || o.NewSessionID != "" {
		t.Errorf("output %+v", o)
	}
	reqs := api.requests()
	if reqs[0]["model"] != "claude-test-model" {
		t.Errorf("model %v", reqs[0]["model"])
	}
	for _, x := range reqs[0]["tools"].([]any) {
		if n := x.(map[string]any)["name"]; n == "web_search" || n == "web_fetch" {
			t.Errorf("web tool %v present with NANOCLAW_WEB_TOOLS=0", n)
		}
	}
}

// TestFailedTurnLeavesSession: a turn that fails (an API outage) leaves the stored session
// as it was, so retrying the same prompt adds its user turn once, not once per attempt.
func TestFailedTurnLeavesSession(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) {
		if n > 0 && fail.Load() {
			return http.StatusInternalServerError, `{"type":"error","error":{"type":"api_error","message":"down"}}`
		}
		return textResp(fmt.Sprintf("answer %d", n))
	}}
	h := newHarness(t, api)
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
	req.SessionID, req.Prompt = o.NewSessionID, "what number?"
	for range 3 { // the outage: every attempt fails
		h.start(req)
		if o := h.next(); o.Status != "error" || o.NewSessionID != req.SessionID {
			t.Fatalf("failed attempt output %+v", o)
		}
		h.exitCode()
		if after, _ := os.ReadFile(session); string(after) != string(before) {
			t.Fatal("a failed turn changed the stored session")
		}
	}
	fail.Store(false)
	h.start(req)
	if o := h.next(); o.Status != "success" {
		t.Fatalf("after the outage: %+v", o)
	}
	h.dropClose()
	h.exitCode()
	reqs := api.requests()
	if got := userTexts(reqs[len(reqs)-1]); !slices.Equal(got, []string{"remember 42", "what number?"}) {
		t.Fatalf("user turns after the outage %q, want each once", got)
	}
}

// TestBadInput: unparsable stdin is an error marker and exit 1.
func TestBadInput(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), strings.NewReader("{nope"), &out, &errb, func(string) string { return "" })
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	s := out.String()
	if !strings.HasPrefix(s, outputStartMarker+"\n") || !strings.HasSuffix(s, outputEndMarker+"\n") || !strings.Contains(s, `"status":"error"`) {
		t.Errorf("stdout %q", s)
	}
}

// TestScheduledScript: a scheduled task's script with wakeAgent=false never calls the model;
// with wakeAgent=true its data is put in the prompt.
func TestScheduledScript(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) { return textResp("woke") }}
	h := newHarness(t, api)
	req := baseRequest()
	req.IsScheduledTask = true
	req.Prompt = "check things"
	req.Script = `echo noise; echo '{"wakeAgent": false}'`
	h.start(req)
	if o := h.next(); o.Status != "success" || o.Result != nil {
		t.Errorf("sleep output %+v", o)
	}
	h.exitCode()
	if n := len(api.requests()); n != 0 {
		t.Fatalf("%d model calls for wakeAgent=false", n)
	}
	req.Script = `echo '{"wakeAgent": true, "data": {"count": 3}}'`
	h.start(req)
	if o := h.next(); o.Result == nil || *o.Result != "woke" {
		t.Errorf("wake output %+v", o)
	}
	h.dropClose()
	h.exitCode()
	got := userTexts(api.requests()[0])
	if len(got) != 1 || !strings.Contains(got[0], `"count": 3`) || !strings.HasSuffix(got[0], "Instructions:\ncheck things") {
		t.Errorf("prompt %q", got)
	}
}

// TestMemoryFIFODoesNotBlock: a FIFO where CLAUDE.md should be is skipped, not read (a read
// would block the run until its timeout).
func TestMemoryFIFODoesNotBlock(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) { return textResp("ok") }}
	h := newHarness(t, api)
	if err := syscall.Mkfifo(h.path("group/CLAUDE.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(h.path("global/CLAUDE.md"), []byte("GLOBAL-MEMORY-MARKER"), 0o644)
	h.start(baseRequest())
	if o := h.next(); o.Status != "success" {
		t.Fatalf("output %+v", o)
	}
	h.dropClose()
	h.exitCode()
	sys, _ := json.Marshal(api.requests()[0]["system"])
	if !strings.Contains(string(sys), "GLOBAL-MEMORY-MARKER") {
		t.Errorf("the global memory was not read: %s", sys)
	}
}
