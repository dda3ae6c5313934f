package agentsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

const waitTimeout = 10 * time.Second

// fakeIPC records what reached the IPC service and answers from a script.
type fakeIPC struct {
	mu     sync.Mutex
	groups []string
	bodies []string
	answer func(group string, body []byte) runproto.IPCResponse
}

func (f *fakeIPC) Handle(_ context.Context, group string, body []byte) runproto.IPCResponse {
	f.mu.Lock()
	f.groups = append(f.groups, group)
	f.bodies = append(f.bodies, string(body))
	answer := f.answer
	f.mu.Unlock()
	if answer != nil {
		return answer(group, body)
	}
	return runproto.IPCResponse{OK: true, Result: map[string]string{"group": group}}
}

func (f *fakeIPC) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.groups)
}

type harness struct {
	t   *testing.T
	s   *Server
	ipc *fakeIPC
	dir string
}

func newHarness(t *testing.T, tweak func(*Config)) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "agentsock-") // socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &harness{t: t, ipc: &fakeIPC{}, dir: filepath.Join(dir, "agents")}
	cfg := Config{Dir: h.dir, UID: -1, GID: -1, IPC: h.ipc,
		Model: func(group string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "model for %s: %s %s", group, r.Method, r.URL.Path)
			})
		}}
	if tweak != nil {
		tweak(&cfg)
	}
	h.s, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.s.Close() })
	return h
}

func (h *harness) listen(group string) string {
	h.t.Helper()
	dir, err := h.s.Listen(group)
	if err != nil {
		h.t.Fatal(err)
	}
	return filepath.Join(dir, SocketName)
}

// client speaks HTTP over a group's socket, as the runner does.
func client(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func do(t *testing.T, c *http.Client, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://agent"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIdentityIsTheSocket: a request names a group in its body, but the IPC service hears
// the group whose socket it came in on.
func TestIdentityIsTheSocket(t *testing.T) {
	h := newHarness(t, nil)
	fam := client(h.listen("family"))
	h.listen("main")
	code, body := do(t, fam, "POST", "/ipc", `{"type":"message","groupFolder":"main","isMain":true}`)
	if code != 200 || !strings.Contains(body, `"group":"family"`) {
		t.Fatalf("got %d %s", code, body)
	}
	if h.ipc.groups[0] != "family" {
		t.Fatalf("IPC heard group %q", h.ipc.groups[0])
	}
	code, body = do(t, fam, "POST", "/v1/messages", `{}`)
	if code != 200 || body != "model for family: POST /v1/messages" {
		t.Fatalf("model: %d %s", code, body)
	}
}

// TestBadTraffic: every malformed or abusive request gets a clear JSON error and the IPC
// service never sees it.
func TestBadTraffic(t *testing.T) {
	h := newHarness(t, nil)
	c := client(h.listen("family"))
	big := strings.Repeat("x", runproto.MaxIPCBytes+1)
	cases := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"UnknownPath", "GET", "/etc/passwd", "", 404, "no such path"},
		{"PathTraversal", "GET", "/../ipc", "", 404, ""},
		{"IPCWithGet", "GET", "/ipc", "", 405, "takes POST"},
		{"InputWithPost", "POST", "/input", "", 405, "takes GET"},
		{"OversizedIPC", "POST", "/ipc", big, 413, "larger than"},
		{"AckNotJSON", "POST", "/input/ack", "nope", 400, "acknowledgement is"},
		{"AckUnknownField", "POST", "/input/ack", `{"run":"r","ids":[1],"x":1}`, 400, "acknowledgement is"},
		{"AckTrailingData", "POST", "/input/ack", `{"run":"r","ids":[1]} {}`, 400, "acknowledgement is"},
		{"AckNoRun", "POST", "/input/ack", `{"run":"r","ids":[1]}`, 403, "not this group's current run"},
		{"InputNoRun", "GET", "/input?run=r", "", 403, "no current run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, c, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", code, body, tc.code, tc.want)
			}
			if tc.code != 404 && !json.Valid([]byte(body)) {
				t.Fatalf("not a JSON answer: %s", body)
			}
		})
	}
	if n := h.ipc.calls(); n != 0 {
		t.Fatalf("the IPC service saw %d bad requests", n)
	}
}

// TestIPCRateLimit: a flood of requests from one group is answered 429 past the burst;
// another group is not affected.
func TestIPCRateLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IPCRate, c.IPCBurst = 0.001, 5 })
	fam := client(h.listen("family"))
	other := client(h.listen("other"))
	limited := 0
	for range 8 {
		code, body := do(t, fam, "POST", "/ipc", `{"type":"list_tasks"}`)
		if code == 429 {
			limited++
			if !strings.Contains(body, runproto.CodeRateLimit) {
				t.Fatalf("429 body %s", body)
			}
		}
	}
	if limited != 3 {
		t.Fatalf("%d of 8 limited, want 3", limited)
	}
	if code, _ := do(t, other, "POST", "/ipc", `{"type":"list_tasks"}`); code != 200 {
		t.Fatalf("another group was limited too: %d", code)
	}
}

// TestRefusalLogBounded: a flood of refused requests is answered in full but logged at a
// bounded rate, and the lines logged count the ones that were not: none goes unaccounted.
func TestRefusalLogBounded(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, func(c *Config) {
		c.IPCRate, c.IPCBurst = 0.001, 1
		c.Log = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
	})
	fam := client(h.listen("family"))
	start := time.Now()
	refused := 0
	for i := range 500 {
		path, method := "/ipc", "POST"
		if i%2 == 0 {
			path, method = "/input?run=nope", "GET"
		}
		switch code, _ := do(t, fam, method, path, `{"type":"list_tasks"}`); code {
		case 429, 403:
			refused++
		case 200:
		default:
			t.Fatalf("request %d answered %d", i, code)
		}
	}
	lines := strings.Count(logs.String(), "agent socket request refused")
	if max := refusalLogBurst + int(time.Since(start).Seconds()*float64(refusalLogRate)) + 1; lines > max {
		t.Fatalf("%d refusals logged for %d (want at most %d)", lines, refused, max)
	}
	h.s.groups["family"].logs = rate.NewLimiter(rate.Inf, 1) // as if time had passed
	do(t, fam, "GET", "/input?run=nope", "")
	refused++
	counted := strings.Count(logs.String(), "agent socket request refused")
	for _, m := range regexp.MustCompile(`suppressed=(\d+)`).FindAllStringSubmatch(logs.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		counted += n
	}
	if counted != refused {
		t.Fatalf("%d refusals logged or counted as suppressed, want %d:\n%s", counted, refused, logs.String())
	}
}

// TestIPCAnswers: the service's answer reaches the agent with a status that says why.
func TestIPCAnswers(t *testing.T) {
	h := newHarness(t, nil)
	c := client(h.listen("family"))
	for _, tc := range []struct {
		resp runproto.IPCResponse
		code int
	}{
		{runproto.IPCResponse{OK: true, Result: 1}, 200},
		{runproto.IPCResponse{Code: runproto.CodeRefused, Error: "denied by ipcauthz: no"}, 403},
		{runproto.IPCResponse{Code: runproto.CodeMalformed, Error: "bad"}, 400},
		{runproto.IPCResponse{Code: runproto.CodeFailed, Error: "boom"}, 500},
	} {
		h.ipc.mu.Lock()
		h.ipc.answer = func(string, []byte) runproto.IPCResponse { return tc.resp }
		h.ipc.mu.Unlock()
		code, body := do(t, c, "POST", "/ipc", `{}`)
		var got runproto.IPCResponse
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != tc.code || got.Error != tc.resp.Error || got.OK != tc.resp.OK {
			t.Fatalf("%+v: got %d %s", tc.resp, code, body)
		}
	}
}

// stream is an open input stream, read frame by frame.
type stream struct {
	t      *testing.T
	resp   *http.Response
	frames chan runproto.InputFrame
}

func openStream(t *testing.T, c *http.Client, run string) *stream {
	t.Helper()
	resp, err := c.Get("http://agent/input?run=" + run)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("open stream: %d %s", resp.StatusCode, b)
	}
	s := &stream{t: t, resp: resp, frames: make(chan runproto.InputFrame, 64)}
	go func() {
		defer close(s.frames)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var f runproto.InputFrame
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				t.Errorf("bad frame %q", sc.Text())
				return
			}
			s.frames <- f
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

func (s *stream) next() runproto.InputFrame {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatal("stream ended")
		}
		return f
	case <-time.After(waitTimeout):
		s.t.Fatal("no frame")
	}
	return runproto.InputFrame{}
}

func (s *stream) ended() {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if ok {
			s.t.Fatalf("frame %+v, want the stream to end", f)
		}
	case <-time.After(waitTimeout):
		s.t.Fatal("stream did not end")
	}
}

func frameString(f runproto.InputFrame) string {
	if f.Type == runproto.FrameMessage {
		return fmt.Sprintf("%d:%s", f.ID, f.Text)
	}
	return f.Type
}

// TestInputStream walks a run's input: a backlog before the stream opens, live follow-ups,
// acknowledgements, a reconnect that gets only what was not acknowledged, close, and end.
func TestInputStream(t *testing.T) {
	h := newHarness(t, nil)
	c := client(h.listen("family"))
	run, err := h.s.StartRun("family", "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.StartRun("family", "run-2"); err == nil {
		t.Fatal("a second run of the group was attached")
	}
	if id, _ := run.Push("early"); id != 1 {
		t.Fatalf("first id %d", id)
	}
	if code, _ := do(t, c, "GET", "/input?run=run-0", ""); code != 403 {
		t.Fatalf("stream of a stale run id: %d", code)
	}
	s := openStream(t, c, "run-1")
	for _, want := range []string{"1:early", "ready"} {
		if got := frameString(s.next()); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if code, body := do(t, c, "GET", "/input?run=run-1", ""); code != 403 || !strings.Contains(body, "already open") {
		t.Fatalf("second stream: %d %s", code, body)
	}
	run.Push("second")
	if got := frameString(s.next()); got != "2:second" {
		t.Fatalf("live: %s", got)
	}
	if code, body := do(t, c, "POST", "/input/ack", `{"run":"run-1","ids":[1]}`); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	if code, _ := do(t, c, "POST", "/input/ack", `{"run":"run-1","ids":[9]}`); code != 400 {
		t.Fatalf("ack of an unknown id: %d", code)
	}
	if got := run.Unacked(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("unacked %v", got)
	}
	// The stream breaks; the next one starts again from what was not acknowledged.
	s.resp.Body.Close()
	select {
	case <-run.detached:
	case <-time.After(waitTimeout):
		t.Fatal("the server never released the broken stream")
	}
	s2 := openStream(t, c, "run-1")
	for _, want := range []string{"2:second", "ready"} {
		if got := frameString(s2.next()); got != want {
			t.Fatalf("after reconnect: got %s, want %s", got, want)
		}
	}
	run.Close()
	if got := frameString(s2.next()); got != "close" {
		t.Fatalf("got %s, want close", got)
	}
	unacked := run.End()
	if len(unacked) != 1 || unacked[0] != 2 {
		t.Fatalf("End returned %v", unacked)
	}
	s2.ended()
	if _, ok := run.Push("late"); ok {
		t.Fatal("Push after End succeeded")
	}
	if _, err := h.s.StartRun("family", "run-2"); err != nil {
		t.Fatalf("next run: %v", err)
	}
}

// TestStalledReaderDoesNotBlock: a runner that opens its stream and never reads it loses
// the stream after the write deadline; pushing never waits, and other groups are served.
func TestStalledReaderDoesNotBlock(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond })
	sock := h.listen("family")
	other := client(h.listen("other"))
	run, err := h.s.StartRun("family", "r")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /input?run=r HTTP/1.1\r\nHost: agent\r\n\r\n")
	big := strings.Repeat("y", 256<<10)
	done := make(chan struct{})
	go func() {
		for range 64 { // 16 MiB: far more than the socket buffers hold
			run.Push(big)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Push blocked on a stalled reader")
	}
	if code, _ := do(t, other, "POST", "/ipc", `{}`); code != 200 {
		t.Fatalf("another group: %d", code)
	}
	if got := len(run.Unacked()); got != 64 {
		t.Fatalf("unacked %d", got)
	}
}

// TestSlowHeaders: a connection that never finishes its request is closed.
func TestSlowHeaders(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("unix", h.listen("family"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /ipc HTTP/1.1\r\nHost: a")
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if len(b) > 0 && !bytes.Contains(b, []byte("408")) {
		t.Fatalf("answer %q", b)
	}
}

// TestConnectionCap: a group holding all its connections open waits on its own; another
// group is served at once.
func TestConnectionCap(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxConns = 2 })
	sock := h.listen("family")
	other := client(h.listen("other"))
	for range 2 {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /ipc HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
	}
	if code, _ := do(t, other, "POST", "/ipc", `{}`); code != 200 {
		t.Fatalf("another group: %d", code)
	}
}

// TestSocketFiles: the group's directory is only searchable, the socket belongs to the
// configured user with mode 0600, the parent is host-only, and a stale socket is replaced.
func TestSocketFiles(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.UID, c.GID = 4242, 4243 })
	if os.Getuid() != 0 {
		t.Skip("chown needs root")
	}
	sock := h.listen("family")
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := owner(fi)
	if fi.Mode().Perm() != 0o600 || uid != 4242 || gid != 4243 {
		t.Fatalf("socket %v owned %d:%d", fi.Mode(), uid, gid)
	}
	for dir, want := range map[string]os.FileMode{filepath.Dir(sock): 0o711, h.dir: 0o700} {
		fi, err := os.Lstat(dir)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %v", dir, fi.Mode(), err, want)
		}
	}
	// A new server (the host restarted after a crash) takes over the stale socket.
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	h2 := newHarness(t, func(c *Config) { c.Dir = h.dir; c.UID, c.GID = -1, -1 })
	h2.listen("family")
	// Something that is not a socket at the path is never removed.
	if err := os.WriteFile(filepath.Join(h.dir, "other", SocketName), nil, 0o600); err != nil {
		if err := os.MkdirAll(filepath.Join(h.dir, "other"), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.dir, "other", SocketName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h2.s.Listen("other"); err == nil {
		t.Fatal("a regular file at the socket path was replaced")
	}
	if _, err := h2.s.Listen("../x"); err == nil {
		t.Fatal("an invalid folder was served")
	}
}
