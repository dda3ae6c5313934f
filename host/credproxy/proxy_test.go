package credproxy

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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	realKey   = "sk-ant-REAL-KEY-0123456789abcdef"
	realToken = "oauth-REAL-TOKEN-fedcba9876543210"
	deadline  = 5 * time.Second
)

// seenReq is what the mock upstream received.
type seenReq struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// mockUpstream records every request and answers with h (default: a small JSON message).
func mockUpstream(t *testing.T, h http.HandlerFunc) (*url.URL, chan seenReq) {
	t.Helper()
	seen := make(chan seenReq, 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- seenReq{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":4}}`)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u, seen
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a proxy with captured logs; every response it sees and, at cleanup, every log
// line are checked for the real credentials.
type harness struct {
	t    *testing.T
	p    *Proxy
	logs *syncBuf
	done chan string
	dir  string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuf{}, done: make(chan string, 64)}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: h.logs})
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.onDone = func(g string) { h.done <- g }
	h.p = p
	// A short directory: socket paths are limited to ~107 bytes.
	h.dir, err = os.MkdirTemp("", "cp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		os.RemoveAll(h.dir)
		noSecret(t, "log", h.logs.String())
	})
	return h
}

func noSecret(t *testing.T, where, s string) {
	t.Helper()
	for _, secret := range []string{realKey, realToken} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains a real credential: %s", where, s)
		}
	}
}

// listen serves group's handler on a new Unix socket, as the agent socket does, and
// returns a client that dials it.
func (h *harness) listen(group string) (*http.Client, string) {
	h.t.Helper()
	sock := filepath.Join(h.dir, group+".sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		h.t.Fatal(err)
	}
	srv := &http.Server{Handler: h.p.Handler(group)}
	go func() { _ = srv.Serve(ln) }()
	h.t.Cleanup(func() { srv.Close() })
	return unixClient(sock), sock
}

func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: deadline, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends req, reads the whole answer, checks it for credentials and waits until the proxy
// has counted and logged the request.
func (h *harness) do(c *http.Client, req *http.Request) answer {
	h.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatal(err)
	}
	a := answer{resp.StatusCode, resp.Header, string(body)}
	noSecret(h.t, "response", fmt.Sprint(a.header)+a.body)
	h.waitDone()
	return a
}

func (h *harness) waitDone() string {
	h.t.Helper()
	select {
	case g := <-h.done:
		return g
	case <-time.After(deadline):
		h.t.Fatal("proxy never finished the request")
		return ""
	}
}

func post(path, body string, hdr map[string]string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, "http://container"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

func recv(t *testing.T, seen chan seenReq) seenReq {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(deadline):
		t.Fatal("upstream got no request")
		return seenReq{}
	}
}

func noRequest(t *testing.T, seen chan seenReq) {
	t.Helper()
	select {
	case s := <-seen:
		t.Fatalf("upstream was contacted: %s %s", s.Method, s.Path)
	default:
	}
}

// errorBody decodes the Messages API error shape and returns its type and message.
func errorBody(t *testing.T, a answer) (string, string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || e.Type != "error" {
		t.Fatalf("not an API error body (%v): %q", err, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	return e.Error.Type, e.Error.Message
}

func TestHeaders(t *testing.T) {
	placeholder := map[string]string{"X-Api-Key": "placeholder"}
	tests := []struct {
		name          string
		apiKey, token string
		send          map[string]string
		want          map[string]string // header → value upstream must see
		absent        []string
	}{
		{
			name: "api key injected, placeholder stripped", apiKey: realKey, send: placeholder,
			want:   map[string]string{"X-Api-Key": realKey},
			absent: []string{"Authorization"},
		},
		{
			name: "api key injected when the container sent none", apiKey: realKey,
			want: map[string]string{"X-Api-Key": realKey},
		},
		{
			name: "api key mode drops a container Authorization", apiKey: realKey,
			send:   map[string]string{"Authorization": "Bearer placeholder"},
			want:   map[string]string{"X-Api-Key": realKey},
			absent: []string{"Authorization"},
		},
		{
			name: "oauth token replaces Authorization when present", token: realToken,
			send:   map[string]string{"Authorization": "Bearer placeholder"},
			want:   map[string]string{"Authorization": "Bearer " + realToken},
			absent: []string{"X-Api-Key"},
		},
		{
			name: "oauth token not added when Authorization absent", token: realToken, send: placeholder,
			absent: []string{"Authorization", "X-Api-Key"},
		},
		{
			name: "both configured: bearer for Authorization requests", apiKey: realKey, token: realToken,
			send:   map[string]string{"Authorization": "Bearer placeholder"},
			want:   map[string]string{"Authorization": "Bearer " + realToken},
			absent: []string{"X-Api-Key"},
		},
		{
			name: "both configured: key otherwise", apiKey: realKey, token: realToken, send: placeholder,
			want:   map[string]string{"X-Api-Key": realKey},
			absent: []string{"Authorization"},
		},
		{
			name: "hop-by-hop and credential headers stripped, API headers kept", apiKey: realKey,
			send: map[string]string{
				"Connection": "X-Private, keep-alive", "X-Private": "secret", "Keep-Alive": "timeout=5",
				"Proxy-Authorization": "Basic Zm9v", "Proxy-Anything": "1", "Te": "trailers",
				"Trailer": "X-Foo", "Upgrade": "websocket", "Cookie": "a=b", "Anthropic-Api-Key": "x",
				"X-Goog-Api-Key": "x", "X-Auth-Token": "x",
				"Anthropic-Version": "2023-06-01", "Anthropic-Beta": "tools-2024", "Accept": "text/event-stream",
				"User-Agent": "claude-cli/1.0", "X-Stainless-Os": "Linux", "X-Forwarded-For": "1.2.3.4",
			},
			want: map[string]string{
				"X-Api-Key": realKey, "Anthropic-Version": "2023-06-01", "Anthropic-Beta": "tools-2024",
				"Accept": "text/event-stream", "User-Agent": "claude-cli/1.0", "X-Stainless-Os": "Linux",
				"Content-Type": "application/json",
			},
			absent: []string{"Connection", "X-Private", "Keep-Alive", "Proxy-Authorization", "Proxy-Anything",
				"Te", "Trailer", "Upgrade", "Cookie", "Anthropic-Api-Key", "X-Goog-Api-Key", "X-Auth-Token",
				"X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Authorization"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, seen := mockUpstream(t, nil)
			h := newHarness(t, Config{Upstream: up, APIKey: tt.apiKey, AuthToken: tt.token})
			c, _ := h.listen("main")
			a := h.do(c, post("/v1/messages?beta=true", `{"model":"m"}`, tt.send))
			if a.status != http.StatusOK {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			got := recv(t, seen)
			if got.Path != "/v1/messages" || got.RawQuery != "beta=true" || string(got.Body) != `{"model":"m"}` {
				t.Errorf("upstream got %s ?%s %q", got.Path, got.RawQuery, got.Body)
			}
			for k, v := range tt.want {
				if g := got.Header.Values(k); len(g) != 1 || g[0] != v {
					t.Errorf("upstream %s = %q, want %q", k, g, v)
				}
			}
			for _, k := range tt.absent {
				if g := got.Header.Values(k); len(g) > 0 {
					t.Errorf("upstream got %s: %q", k, g)
				}
			}
		})
	}
}

func TestUpstreamPathPrefix(t *testing.T) {
	up, seen := mockUpstream(t, nil)
	up.Path = "/compat/anthropic"
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	h.do(c, post("/v1/messages/count_tokens", `{}`, nil))
	if got := recv(t, seen); got.Path != "/compat/anthropic/v1/messages/count_tokens" {
		t.Errorf("upstream path %q", got.Path)
	}
}

func TestRefusedPaths(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 404},
		{"GET", "/v1", 404},
		{"GET", "/v1/", 404},
		{"POST", "/v2/messages", 404},
		{"POST", "/api/oauth/claude_cli/create_api_key", 404},
		{"GET", "/v1/../admin", 404},
		{"GET", "/v1/%2e%2e/admin", 404},
		{"GET", "/v1/models/..", 404},
		{"GET", "/v1//models", 404},
		{"PUT", "/v1/messages", 405},
	}
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, sock := h.listen("main")
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			// Write the request line by hand: http.Client would not send every path verbatim.
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", tt.method, tt.path)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			h.waitDone()
			a := answer{resp.StatusCode, resp.Header, string(body)}
			if a.status != tt.status {
				t.Fatalf("status %d, want %d", a.status, tt.status)
			}
			errorBody(t, a)
			noRequest(t, seen)
		})
	}
	// The allowed form still works on the same socket.
	req, _ := http.NewRequest("GET", "http://container/v1/models", nil)
	if a := h.do(c, req); a.status != 200 {
		t.Fatalf("GET /v1/models: %d", a.status)
	}
	if got := recv(t, seen); got.Method != "GET" || got.Path != "/v1/models" {
		t.Errorf("upstream got %s %s", got.Method, got.Path)
	}
}

func TestUpstreamDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	up, _ := url.Parse(srv.URL)
	srv.Close() // nothing listens there now
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	a := h.do(c, post("/v1/messages", `{}`, map[string]string{"X-Api-Key": "placeholder"}))
	if a.status != http.StatusBadGateway {
		t.Fatalf("status %d", a.status)
	}
	if typ, _ := errorBody(t, a); typ != "api_error" {
		t.Errorf("error type %q", typ)
	}
	if !strings.Contains(h.logs.String(), "status=502") {
		t.Errorf("502 not logged: %s", h.logs.String())
	}
}

// sse formats one server-sent event.
func sse(event, data string) string { return "event: " + event + "\ndata: " + data + "\n\n" }

func TestStreamingSSE(t *testing.T) {
	next := make(chan struct{})
	up, _ := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, sse("message_start", `{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"cache_read_input_tokens":7,"output_tokens":1}}}`))
		w.(http.Flusher).Flush()
		select { // the client must see the first event before we send the rest
		case <-next:
		case <-time.After(deadline):
			return
		}
		io.WriteString(w, sse("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi \"usage\""}}`))
		io.WriteString(w, sse("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}`))
		io.WriteString(w, sse("message_stop", `{"type":"message_stop"}`))
	})
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	resp, err := c.Do(post("/v1/messages", `{"stream":true}`, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	var first strings.Builder
	for !strings.HasSuffix(first.String(), "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event: %v (got %q)", err, first.String())
		}
		first.WriteString(line)
	}
	if !strings.Contains(first.String(), "message_start") {
		t.Fatalf("first event %q", first.String())
	}
	close(next)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rest), "message_stop") {
		t.Errorf("rest of stream %q", rest)
	}
	noSecret(t, "response", first.String()+string(rest))
	h.waitDone()
	u := h.p.Usage("main")
	want := Usage{Requests: 1, Tokens: Tokens{Input: 25, Output: 15, CacheRead: 7}, TokensToday: 47}
	if u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
	if !strings.Contains(h.logs.String(), "input_tokens=25 output_tokens=15") {
		t.Errorf("log lacks the tokens: %s", h.logs.String())
	}
}

func TestNonStreamingUsage(t *testing.T) {
	up, _ := mockUpstream(t, nil) // answers input 3, output 4
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	for range 2 {
		if a := h.do(c, post("/v1/messages", `{}`, nil)); a.status != 200 || !strings.Contains(a.body, "msg_1") {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
	}
	want := Usage{Requests: 2, Tokens: Tokens{Input: 6, Output: 8}, TokensToday: 14}
	if u := h.p.Usage("main"); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

func TestBudget(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	up, seen := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"usage":{"input_tokens":60,"output_tokens":50}}`)
	})
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: 100,
		GroupBudgets: map[string]int64{"unlimited": 0}, Clock: clock})
	c, _ := h.listen("main")
	cu, _ := h.listen("unlimited")

	tests := []struct {
		name     string
		client   *http.Client
		advance  time.Duration
		status   int
		upstream bool
	}{
		{"first request under budget", c, 0, 200, true},
		{"over budget: refused", c, 0, 429, false},
		{"still refused", c, 0, 429, false},
		{"unlimited group unaffected", cu, 0, 200, true},
		{"unlimited group again", cu, 0, 200, true},
		{"next UTC day: allowed", c, 2 * time.Hour, 200, true},
		{"and over again", c, 0, 429, false},
	}
	for _, tt := range tests {
		mu.Lock()
		now = now.Add(tt.advance)
		mu.Unlock()
		a := h.do(tt.client, post("/v1/messages", `{}`, nil))
		if a.status != tt.status {
			t.Fatalf("%s: status %d, want %d", tt.name, a.status, tt.status)
		}
		if tt.upstream {
			recv(t, seen)
		} else {
			noRequest(t, seen)
			typ, msg := errorBody(t, a)
			if typ != "rate_limit_error" || !strings.Contains(msg, "budget is 100 tokens") {
				t.Errorf("%s: error %q %q", tt.name, typ, msg)
			}
			mu.Lock()
			midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			wantRA := fmt.Sprint(int(midnight.Sub(now).Seconds()))
			mu.Unlock()
			if ra := a.header.Get("Retry-After"); ra != wantRA {
				t.Errorf("%s: Retry-After %q", tt.name, ra)
			}
		}
	}
	want := Usage{Requests: 2, Refusals: 3, Tokens: Tokens{Input: 120, Output: 100}, TokensToday: 110}
	if u := h.p.Usage("main"); u != want {
		t.Errorf("main usage %+v, want %+v", u, want)
	}
	if u := h.p.Usage("unlimited"); u.Requests != 2 || u.Refusals != 0 {
		t.Errorf("unlimited usage %+v", u)
	}
}

func TestGroupFromSocket(t *testing.T) {
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	ca, _ := h.listen("alpha")
	cb, _ := h.listen("beta")
	// A header naming another group changes nothing: only the socket counts.
	spoof := map[string]string{"X-Nanoclaw-Group": "beta"}
	for range 3 {
		h.do(ca, post("/v1/messages", `{}`, spoof))
		recv(t, seen)
	}
	h.do(cb, post("/v1/messages", `{}`, nil))
	recv(t, seen)
	if u := h.p.Usage("alpha"); u.Requests != 3 || u.Tokens.Input != 9 {
		t.Errorf("alpha %+v", u)
	}
	if u := h.p.Usage("beta"); u.Requests != 1 || u.Tokens.Output != 4 {
		t.Errorf("beta %+v", u)
	}
	if u := h.p.Usage("nobody"); u != (Usage{}) {
		t.Errorf("unknown group %+v", u)
	}
}

func TestBodyTooLarge(t *testing.T) {
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxRequestBytes: 1024})
	c, _ := h.listen("main")
	big := strings.Repeat("x", 2048)
	tests := []struct {
		name     string
		body     io.Reader
		status   int
		upstream bool // the upstream may or may not have seen the start of a chunked body
	}{
		{"exactly the limit", strings.NewReader(big[:1024]), 200, true},
		{"content-length over the limit", strings.NewReader(big), 413, false},
		{"chunked over the limit", io.MultiReader(strings.NewReader(big)), 413, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://container/v1/messages", tt.body)
			a := h.do(c, req)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.upstream {
				if got := recv(t, seen); len(got.Body) != 1024 {
					t.Errorf("upstream body %d bytes", len(got.Body))
				}
				return
			}
			if typ, _ := errorBody(t, a); typ != "request_too_large" {
				t.Errorf("error type %q", typ)
			}
			select { // a chunked body may have reached the upstream in part, never whole
			case got := <-seen:
				if len(got.Body) > 1024 {
					t.Errorf("upstream got %d bytes", len(got.Body))
				}
			default:
			}
		})
	}
}

// TestSecretsNeverLeak drives every kind of answer, including an upstream that echoes the
// headers it got in an error, and checks the answers and logs (done by the harness) as well
// as errors and the formatted Config.
func TestSecretsNeverLeak(t *testing.T) {
	up, _ := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session=abc")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
	})
	cfg := Config{Upstream: up, APIKey: realKey, AuthToken: realToken, MaxTokensPerDay: 1}
	h := newHarness(t, cfg)
	c, _ := h.listen("main")
	for _, hdr := range []map[string]string{
		{"X-Api-Key": "placeholder"},
		{"Authorization": "Bearer placeholder"},
	} {
		a := h.do(c, post("/v1/messages", `{}`, hdr))
		if a.status != 401 || a.header.Get("Set-Cookie") != "" {
			t.Errorf("answer %d %v", a.status, a.header)
		}
	}
	h.do(c, post("/nope", "", nil))
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		noSecret(t, "formatted config", s)
		if !strings.Contains(s, "APIKey: set") {
			t.Errorf("config string %q", s)
		}
	}
	bad, _ := url.Parse("ftp://user:" + realKey + "@host/")
	if _, err := New(Config{Upstream: bad, APIKey: realKey}); err == nil {
		t.Error("ftp upstream accepted")
	} else {
		noSecret(t, "error", err.Error())
	}
	_, err := ConfigFromEnv(mapEnv(map[string]string{"ANTHROPIC_API_KEY": realKey, "ANTHROPIC_BASE_URL": "::" + realKey}))
	if err == nil {
		t.Error("bad base URL accepted")
	} else {
		noSecret(t, "error", err.Error())
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
		check   func(Config) bool
	}{
		{"nothing set", map[string]string{}, true, nil},
		{"api key", map[string]string{"ANTHROPIC_API_KEY": "k"}, false,
			func(c Config) bool { return c.APIKey == "k" && c.Upstream == nil }},
		{"oauth token", map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": "t", "ANTHROPIC_AUTH_TOKEN": "u"}, false,
			func(c Config) bool { return c.AuthToken == "t" }},
		{"auth token", map[string]string{"ANTHROPIC_AUTH_TOKEN": "u"}, false,
			func(c Config) bool { return c.AuthToken == "u" }},
		{"base url", map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://llm:8080/anthropic"}, false,
			func(c Config) bool { return c.Upstream.String() == "http://llm:8080/anthropic" }},
		{"base url without host", map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http:///x"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(mapEnv(tt.env))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("config %#v", c)
			}
			if err == nil {
				if _, err := New(c); err != nil {
					t.Errorf("New: %v", err)
				}
			}
		})
	}
	for _, c := range []Config{{}, {APIKey: "k", MaxTokensPerDay: -1}, {APIKey: "k", GroupBudgets: map[string]int64{"g": -5}}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%v) accepted", c)
		}
	}
}
