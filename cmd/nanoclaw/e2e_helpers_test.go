package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
	"github.com/nanoclaw/nanoclaw-go/sandbox/imagetest"
)

var e2eImageBuilder imagetest.Builder

// e2eImage is the minimal agent image built from this checkout's runner (after
// requireDocker).
func e2eImage() string { return e2eImageBuilder.Tag() }

// requireDocker returns the engine, skipping the test when there is none unless
// NANOCLAW_REQUIRE_DOCKER=1 (CI), where a missing engine is a failure.
func requireDocker(t testing.TB) *sandbox.Docker {
	t.Helper()
	d, err := sandbox.NewDocker()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = d.Ping(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("NANOCLAW_REQUIRE_DOCKER") == "1" {
			t.Fatalf("NANOCLAW_REQUIRE_DOCKER=1 but the engine is unusable: %v", err)
		}
		t.Skipf("no container engine: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := e2eImageBuilder.Build(context.Background(), d.Client(), "nanoclaw-agent-e2e"); err != nil {
		t.Fatal(err)
	}
	return d
}

// workDir is a fresh project root with the default plugins and the memory templates.
// Unix socket paths are short, so it lives directly under the temp directory.
func workDir(t testing.TB, d *sandbox.Docker) string {
	t.Helper()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "nc-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = d.RemoveManaged(context.Background(), sandbox.Instance(work))
		_ = os.RemoveAll(work)
	})
	for _, p := range []string{"router", "ipcauthz", "mountguard"} {
		installPlugin(t, root, "plugins/"+p, filepath.Join(work, "plugins"), p)
	}
	copyTemplates(t, root, work)
	return work
}

// copyTemplates gives the project at work the checkout's memory templates (templates/), as a
// clone has them; memory files are made from them on first use.
func copyTemplates(t testing.TB, root, work string) {
	t.Helper()
	for _, name := range []string{"main", "group", "global"} {
		b, err := os.ReadFile(filepath.Join(root, "templates", name+".md"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(work, "templates"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "templates", name+".md"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// installPlugin builds a plugin's wasm and puts it with its manifest into dir.
func installPlugin(t testing.TB, root, src, dir, name string) {
	t.Helper()
	wasm, err := os.ReadFile(plugintest.BuildGo(t, filepath.Join(root, src), ""))
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(filepath.Join(root, src, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := plugintest.WriteAtomic(filepath.Join(dir, name+".json"), m); err != nil {
		t.Fatal(err)
	}
	if err := plugintest.WriteAtomic(filepath.Join(dir, name+".wasm"), wasm); err != nil {
		t.Fatal(err)
	}
}

// hostEnv is the environment a test host runs with.
func hostEnv(work, apiURL string) map[string]string {
	return map[string]string{
		"NANOCLAW_CONFIG_DIR":   filepath.Join(work, "config"),
		"NANOCLAW_PLUGIN_CACHE": plugintest.CacheDir(), // compiled once per machine, not per test
		"ANTHROPIC_API_KEY":     "sk-ant-e2e-real-key",
		"ANTHROPIC_BASE_URL":    apiURL,
		"CONTAINER_IMAGE":       e2eImage(),
		"IDLE_TIMEOUT":          "60000",
		"TZ":                    "UTC",
		"ASSISTANT_NAME":        "Andy",
		"LOG_LEVEL":             "debug",
	}
}

// mockAPI plays the Messages API. It answers by the latest user turn:
//   - a tool result: "tool done";
//   - "please schedule": a schedule_task tool call for a once task 2 s ahead;
//   - "scheduled-job" (the task's prompt): "task ran";
//   - "hold-me": nothing until Release (to kill a host mid-run);
//   - anything else: "reply: " + the last message's text.
type mockAPI struct {
	mu       sync.Mutex
	requests []apiRequest
	seen     chan apiRequest
	release  chan struct{}
	once     sync.Once
}

// apiRequest is one request as the mock saw it.
type apiRequest struct {
	Last     string // the latest user turn's text
	Messages int    // how many messages the conversation had
	Body     string
	Key      string
	At       time.Time
}

func newMockAPI(t testing.TB) (*mockAPI, string) {
	m := &mockAPI{seen: make(chan apiRequest, 64), release: make(chan struct{})}
	srv := httptest.NewServer(m)
	t.Cleanup(func() { m.Release(); srv.Close() })
	return m, srv.URL
}

// Release lets held requests answer.
func (m *mockAPI) Release() { m.once.Do(func() { close(m.release) }) }

func (m *mockAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	ar := apiRequest{Messages: len(req.Messages), Body: string(body), Key: r.Header.Get("X-Api-Key"), At: at}
	toolResult := false
	if n := len(req.Messages); n > 0 {
		c := req.Messages[n-1].Content
		var s string
		if json.Unmarshal(c, &s) == nil {
			ar.Last = s
		} else {
			var blocks []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			_ = json.Unmarshal(c, &blocks)
			for _, b := range blocks {
				ar.Last += b.Text
				toolResult = toolResult || b.Type == "tool_result"
			}
		}
	}
	m.mu.Lock()
	m.requests = append(m.requests, ar)
	m.mu.Unlock()
	select {
	case m.seen <- ar:
	default:
	}
	var block any
	switch {
	case toolResult:
		block = map[string]any{"type": "text", "text": "tool done"}
	case strings.Contains(ar.Last, "please schedule"):
		when := time.Now().UTC().Add(2 * time.Second).Format("2006-01-02T15:04:05")
		block = map[string]any{"type": "tool_use", "id": "tu1", "name": "schedule_task", "input": map[string]any{
			"prompt": "scheduled-job", "schedule_type": "once", "schedule_value": when, "context_mode": "isolated"}}
	case strings.Contains(ar.Last, "scheduled-job"):
		block = map[string]any{"type": "text", "text": "task ran"}
	case strings.Contains(ar.Last, "hold-me"):
		select {
		case <-m.release:
		case <-r.Context().Done():
			return
		}
		block = map[string]any{"type": "text", "text": "reply: " + lastMessageText(ar.Last)}
	default:
		block = map[string]any{"type": "text", "text": "reply: " + lastMessageText(ar.Last)}
	}
	stop := "end_turn"
	if b, ok := block.(map[string]any); ok && b["type"] == "tool_use" {
		stop = "tool_use"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "msg_e2e", "type": "message", "role": "assistant", "model": "claude-test",
		"content": []any{block}, "stop_reason": stop, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 3, "output_tokens": 2}})
}

// lastMessageText is the text of the last <message> in a NanoClaw prompt.
func lastMessageText(prompt string) string {
	end := strings.LastIndex(prompt, "</message>")
	if end < 0 {
		return strings.TrimSpace(prompt)
	}
	start := strings.LastIndex(prompt[:end], ">")
	return prompt[start+1 : end]
}

// next waits for the mock's next request.
func (m *mockAPI) next(t testing.TB, within time.Duration) apiRequest {
	t.Helper()
	select {
	case r := <-m.seen:
		return r
	case <-time.After(within):
		t.Fatalf("no model request within %v", within)
		return apiRequest{}
	}
}

// chatClient speaks the local chat protocol to a running host.
type chatClient struct {
	t      testing.TB
	conn   net.Conn
	frames chan map[string]any
	// held keeps the assistant's messages that came while waiting for an ack: a follow-up
	// piped to a running agent can be answered before the host's ack of it reaches us.
	held []map[string]any
}

// dialChat joins a local chat, retrying until the host's socket answers.
func dialChat(t testing.TB, ctx context.Context, work, chat string) *chatClient {
	t.Helper()
	sock := filepath.Join(work, "data", "chat.sock")
	var conn net.Conn
	for {
		var err error
		conn, err = net.Dial("unix", sock)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("chat socket never answered: %v", err)
		case <-time.After(50 * time.Millisecond): // the socket has no event to wait on
		}
	}
	c := &chatClient{t: t, conn: conn, frames: make(chan map[string]any, 64)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var f map[string]any
			if json.Unmarshal(sc.Bytes(), &f) == nil {
				c.frames <- f
			}
		}
		close(c.frames)
	}()
	c.write(map[string]any{"type": "hello", "chat": chat, "name": "alice", "id": "hello"})
	c.expect("ack", 30*time.Second)
	return c
}

func (c *chatClient) write(v any) {
	b, _ := json.Marshal(v)
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		c.t.Fatal(err)
	}
}

// say sends a message and waits for the host to store it.
func (c *chatClient) say(text string) {
	c.t.Helper()
	c.write(map[string]any{"type": "message", "text": text, "id": text})
	c.expect("ack", 30*time.Second)
}

// expect waits for the next frame of a type, skipping typing frames and other clients' lines.
func (c *chatClient) expect(typ string, within time.Duration) map[string]any {
	c.t.Helper()
	if typ == "message" && len(c.held) > 0 {
		f := c.held[0]
		c.held = c.held[1:]
		return f
	}
	deadline := time.After(within)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("chat connection closed while waiting for %s", typ)
			}
			if f["type"] == typ {
				return f
			}
			if f["type"] == "message" {
				c.held = append(c.held, f)
				continue
			}
			if f["type"] == "error" || (f["type"] != "typing" && f["type"] != "said" && typ != "message") {
				c.t.Fatalf("waiting for %s, got %v", typ, f)
			}
		case <-deadline:
			c.t.Fatalf("no %s frame within %v", typ, within)
		}
	}
}

// reply waits for the assistant's next message.
func (c *chatClient) reply(within time.Duration) string {
	c.t.Helper()
	f := c.expect("message", within)
	s, _ := f["text"].(string)
	return s
}

// noReply asserts that no message arrives within d.
func (c *chatClient) noReply(d time.Duration) {
	c.t.Helper()
	if len(c.held) > 0 {
		c.t.Fatalf("unexpected message %v", c.held[0])
	}
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if ok && f["type"] == "message" {
				c.t.Fatalf("unexpected message %v", f)
			}
		case <-deadline:
			return
		}
	}
}

// logBuffer is a goroutine-safe log sink that tests can print on failure.
type logBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // signalled (without blocking) after each write, if set
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.b.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// waitCount waits, woken by each write, until the log holds n occurrences of sub.
func (l *logBuffer) waitCount(t testing.TB, sub string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for strings.Count(l.String(), sub) < n {
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("%d × %q not logged within %v", n, sub, timeout)
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHost runs `nanoclaw run` in this process and returns a stop function.
func startHost(t testing.TB, work string, vars map[string]string) (stop func(), logs *logBuffer) {
	t.Helper()
	return startHostWith(t, work, vars, nil)
}

// startHostWith is startHost with a chance to set the host's hooks.
func startHostWith(t testing.TB, work string, vars map[string]string, hooks func(*env)) (stop func(), logs *logBuffer) {
	t.Helper()
	logs = &logBuffer{wrote: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan int, 1)
	getenv := func(k string) string { return vars[k] }
	e := env{stdout: logs, stderr: logs, getenv: getenv, workdir: work, ready: ready}
	if hooks != nil {
		hooks(&e)
	}
	go func() {
		done <- dispatch(ctx, []string{"run"}, e)
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("host exited with %d:\n%s", code, logs.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("host did not start:\n%s", logs.String())
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("host exited with %d", code)
			}
		case <-time.After(time.Minute):
			t.Error("host did not stop within a minute")
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	return stop, logs
}

// cli runs a nanoclaw subcommand against work and returns its output.
func cli(t testing.TB, work string, vars map[string]string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := dispatch(context.Background(), args, env{stdout: &out, stderr: &out, getenv: func(k string) string { return vars[k] }, workdir: work})
	return out.String(), code
}

func fmtRequests(rs []apiRequest) string {
	var b strings.Builder
	for i, r := range rs {
		fmt.Fprintf(&b, "%d: %d messages, last %q\n", i, r.Messages, r.Last)
	}
	return b.String()
}
