package credproxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
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
	"slices"
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
	seen := make(chan seenReq, 256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case seen <- seenReq{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}:
		default: // a test that fires many requests does not read them all
		}
		if h != nil {
			r.Body = io.NopCloser(bytes.NewReader(body)) // h may read it again
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
	t      *testing.T
	p      *Proxy
	logs   *syncBuf
	done   chan string // a request was settled and logged
	queued chan string // a request started waiting for its turn
	dir    string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuf{}, done: make(chan string, 256), queued: make(chan string, 256)}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: h.logs})
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.onDone = func(g string) { h.done <- g }
	p.onQueued = func(g string) { h.queued <- g }
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

// msgBody is a small valid Messages request: max_tokens 10, 48 bytes (reserves 10 + 12).
const msgBody = `{"model":"m","max_tokens":10,"messages":[]}    `

// rawRequest writes a request by hand (http.Client would not send every target verbatim)
// and returns the answer.
func (h *harness) rawRequest(sock, method, target, headers, body string) answer {
	h.t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, headers, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.waitDone()
	a := answer{resp.StatusCode, resp.Header, string(b)}
	noSecret(h.t, "response", fmt.Sprint(a.header)+a.body)
	return a
}

// TestAgentCannotReachOtherEndpoints: with the host's key, GET /v1/files, GET
// /v1/organizations/api_keys, POST /v1/messages/batches and DELETE /v1/files/... all reached
// the upstream. Only POST /v1/messages and /v1/messages/count_tokens (with at most
// ?beta=true) go through now; every other method, path, spelling of a path or query is
// answered 403 in the API's error shape, logged, and never sent.
func TestAgentCannotReachOtherEndpoints(t *testing.T) {
	refused := []struct{ method, target string }{
		{"GET", "/v1/files"},
		{"GET", "/v1/organizations/api_keys"},
		{"POST", "/v1/messages/batches"},
		{"DELETE", "/v1/files/file_011"},
		{"GET", "/v1/models"},
		{"POST", "/v1/complete"},
		{"POST", "/v1/files"},
		{"GET", "/v1/messages"},
		{"HEAD", "/v1/messages"},
		{"PUT", "/v1/messages"},
		{"DELETE", "/v1/messages"},
		{"OPTIONS", "/v1/messages"},
		{"GET", "/v1/messages/count_tokens"},
		{"POST", "/v1/messages/"},
		{"POST", "/v1//messages"},
		{"POST", "/v1/messages/../files"},
		{"POST", "/v1/messages/count_tokens/../batches"},
		{"POST", "/v1/%2e%2e/v1/files"},
		{"POST", "/v1/%6dessages"},
		{"POST", "/v1/messages%2fbatches"},
		{"POST", "/v1/messages;x"},
		{"POST", "/v1/MESSAGES"},
		{"POST", "/v1/messages?beta=false"},
		{"POST", "/v1/messages?beta=true&x=1"},
		{"POST", "/v1/messages?beta=true&beta=true"},
		{"POST", "/v1/messages?x=1"},
		{"POST", "/v1/messages?beta=true;x=1"},
		{"POST", "/v1/messages/batches?beta=true"},
		{"POST", "http://evil.example/v1/files"},
	}
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	_, sock := h.listen("main")
	for _, tt := range refused {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			a := h.rawRequest(sock, tt.method, tt.target, "Content-Type: application/json\r\n", msgBody)
			if a.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", a.status, a.body)
			}
			if tt.method != "HEAD" {
				typ, msg := errorBody(t, a)
				if typ != "permission_error" || !strings.Contains(msg, "only POST /v1/messages and POST /v1/messages/count_tokens") {
					t.Errorf("error %q %q", typ, msg)
				}
			}
			noRequest(t, seen)
		})
	}
	if logs := h.logs.String(); strings.Count(logs, "refused=endpoint") != len(refused) || !strings.Contains(logs, "[WARN]") {
		t.Errorf("every refusal must be logged as a warning:\n%s", logs)
	}
	if u := h.p.Usage("main"); u.Refusals != int64(len(refused)) || u.Requests != 0 {
		t.Errorf("usage %+v", u)
	}
	// What an agent needs still goes through, on the same socket.
	for _, target := range []string{"/v1/messages", "/v1/messages?beta=true", "/v1/messages/count_tokens", "/v1/messages/count_tokens?beta=true"} {
		if a := h.rawRequest(sock, "POST", target, "Content-Type: application/json\r\n", msgBody); a.status != 200 {
			t.Errorf("POST %s: %d %s", target, a.status, a.body)
		}
		got := recv(t, seen)
		path, query, _ := strings.Cut(target, "?")
		if got.Method != "POST" || got.Path != path || got.RawQuery != query || string(got.Body) != msgBody {
			t.Errorf("POST %s reached the upstream as %s %s ?%s %q", target, got.Method, got.Path, got.RawQuery, got.Body)
		}
	}
}

// TestAgentCannotSmuggleHeaders: only anthropic-version, anthropic-beta, content-type and
// accept reach the upstream from a container; credentials of any spelling, hop-by-hop,
// forwarding, method-override and encoding headers, and everything else, are dropped.
func TestAgentCannotSmuggleHeaders(t *testing.T) {
	send := map[string]string{
		"X-Api-Key": "placeholder", "Authorization": "Bearer placeholder", "Anthropic-Api-Key": "x",
		"X-Goog-Api-Key": "x", "X-Auth-Token": "x", "Cookie": "a=b", "Proxy-Authorization": "Basic Zm9v",
		"Connection": "X-Private, keep-alive", "X-Private": "secret", "Keep-Alive": "timeout=5", "Te": "trailers",
		"Trailer": "X-Foo", "Upgrade": "websocket", "Proxy-Anything": "1", "X-Forwarded-For": "1.2.3.4",
		"Forwarded": "for=1.2.3.4", "X-Http-Method-Override": "DELETE", "X-Method-Override": "GET",
		"Expect": "100-continue", "User-Agent": "claude-cli/1.0", "X-Stainless-Os": "Linux",
		"Idempotency-Key": "k", "Anthropic-Dangerous-Direct-Browser-Access": "true", "Origin": "http://x",
		"Accept-Encoding": "identity", "Anthropic-Organization-Id": "org", "Host": "api.anthropic.com",
		"Anthropic-Version": "2023-06-01", "Anthropic-Beta": "tools-2024, files-api-2025-04-14,tools-2024",
		"Accept": "text/event-stream",
	}
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	if a := h.do(c, post("/v1/messages?beta=true", msgBody, send)); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	got := recv(t, seen)
	want := map[string]string{
		"X-Api-Key": realKey, "Anthropic-Version": "2023-06-01", "Anthropic-Beta": "tools-2024,files-api-2025-04-14",
		"Accept": "text/event-stream", "Content-Type": "application/json",
	}
	// What the transport itself adds to every request.
	transport := map[string]bool{"Content-Length": true, "Accept-Encoding": true}
	for k, v := range got.Header {
		if w, ok := want[k]; ok {
			if len(v) != 1 || v[0] != w {
				t.Errorf("upstream %s = %q, want %q", k, v, w)
			}
		} else if !transport[k] {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	for k := range want {
		if got.Header.Get(k) == "" {
			t.Errorf("upstream lacks %s", k)
		}
	}
	if ae := got.Header.Get("Accept-Encoding"); ae != "gzip" {
		t.Errorf("Accept-Encoding %q: the container's choice must not reach the upstream", ae)
	}
}

// authUpstream answers 401 to any request whose credentials are not exactly the real
// ones: x-api-key with the key, or Authorization: Bearer with the token and the OAuth beta
// flag (the API's answer without it).
func authUpstream(t *testing.T) (*url.URL, chan seenReq) {
	return mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		key, auth := r.Header.Values("X-Api-Key"), r.Header.Values("Authorization")
		betas := strings.Split(r.Header.Get("Anthropic-Beta"), ",")
		ok := len(key) == 1 && key[0] == realKey && len(auth) == 0 ||
			len(auth) == 1 && auth[0] == "Bearer "+realToken && len(key) == 0 && slices.Contains(betas, OAuthBeta)
		if !ok {
			w.WriteHeader(401)
			io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		io.WriteString(w, `{"id":"m","type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":4}}`)
	})
}

// TestOAuthTokenReachesUpstreamWhateverContainerSends (issue 13): with only an OAuth token
// configured, the container's placeholder x-api-key made the upstream get no credentials at
// all. Now every forwarded request carries Authorization: Bearer <token> and the OAuth beta
// flag, merged into the container's own flags without duplicates, whatever the container
// sent; with an API key, x-api-key; with both, the API key, and the token never leaves.
func TestOAuthTokenReachesUpstreamWhateverContainerSends(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string // credentials, as .env gives them
		send      map[string]string
		betaLines []string // extra anthropic-beta lines the container sends
		wantBeta  string
	}{
		{name: "oauth token, container sends the placeholder key",
			env:  map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": realToken},
			send: map[string]string{"X-Api-Key": "placeholder"}, wantBeta: OAuthBeta},
		{name: "oauth token, container sends a placeholder bearer",
			env:  map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": realToken},
			send: map[string]string{"Authorization": "Bearer placeholder"}, wantBeta: OAuthBeta},
		{name: "oauth token, container sends no credentials",
			env: map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": realToken}, wantBeta: OAuthBeta},
		{name: "oauth token, container sends both placeholders",
			env:  map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": realToken},
			send: map[string]string{"X-Api-Key": "placeholder", "Authorization": "Bearer sk-ant-oat01-fake"}, wantBeta: OAuthBeta},
		{name: "oauth token, the container's beta flags kept and merged",
			env:       map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": realToken},
			betaLines: []string{"tools-2024,oauth-2025-04-20", " files-api ", "tools-2024"},
			wantBeta:  "tools-2024,oauth-2025-04-20,files-api"},
		{name: "auth token (ANTHROPIC_AUTH_TOKEN) alone",
			env:  map[string]string{"ANTHROPIC_AUTH_TOKEN": realToken},
			send: map[string]string{"X-Api-Key": "placeholder"}, wantBeta: OAuthBeta},
		{name: "api key", env: map[string]string{"ANTHROPIC_API_KEY": realKey},
			send: map[string]string{"Authorization": "Bearer placeholder"}},
		{name: "both set: the API key wins", env: map[string]string{"ANTHROPIC_API_KEY": realKey, "CLAUDE_CODE_OAUTH_TOKEN": realToken},
			send: map[string]string{"Authorization": "Bearer placeholder"}, betaLines: []string{"tools-2024"}, wantBeta: "tools-2024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, seen := authUpstream(t)
			cfg, err := ConfigFromEnv(mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Upstream = up
			h := newHarness(t, cfg)
			c, _ := h.listen("main")
			req := post("/v1/messages?beta=true", msgBody, tt.send)
			for _, l := range tt.betaLines {
				req.Header.Add("Anthropic-Beta", l)
			}
			if a := h.do(c, req); a.status != 200 {
				t.Fatalf("upstream answered %d: %s", a.status, a.body)
			}
			got := recv(t, seen)
			if b := got.Header.Values("Anthropic-Beta"); tt.wantBeta == "" && len(b) > 0 || tt.wantBeta != "" && (len(b) != 1 || b[0] != tt.wantBeta) {
				t.Errorf("anthropic-beta %q, want %q", b, tt.wantBeta)
			}
			if tt.env["ANTHROPIC_API_KEY"] != "" && strings.Contains(fmt.Sprint(got.Header), realToken) {
				t.Error("the token was sent although the API key wins")
			}
		})
	}
}

func TestUpstreamPathPrefix(t *testing.T) {
	up, seen := mockUpstream(t, nil)
	up.Path = "/compat/anthropic"
	up.RawQuery = "tenant=1"
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	h.do(c, post("/v1/messages/count_tokens?beta=true", `{}`, nil))
	if got := recv(t, seen); got.Path != "/compat/anthropic/v1/messages/count_tokens" || got.RawQuery != "tenant=1&beta=true" {
		t.Errorf("upstream target %q ?%q", got.Path, got.RawQuery)
	}
}

// TestAgentCannotSendNonJSONBody: a body is refused 400, before anything goes upstream,
// unless it is one JSON object in UTF-8 with no key twice and, for /v1/messages, a positive
// whole max_tokens (what the budget reserves).
func TestAgentCannotSendNonJSONBody(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(msgBody))
	zw.Close()
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		status           int
	}{
		{name: "empty", path: "/v1/messages", body: "", status: 400},
		{name: "null", path: "/v1/messages", body: "null", status: 400},
		{name: "array", path: "/v1/messages", body: `[{"max_tokens":1}]`, status: 400},
		{name: "string", path: "/v1/messages", body: `"hi"`, status: 400},
		{name: "form", path: "/v1/messages", body: "max_tokens=1", status: 400},
		{name: "trailing garbage", path: "/v1/messages", body: `{"max_tokens":1} x`, status: 400},
		{name: "two objects", path: "/v1/messages", body: `{"max_tokens":1}{"max_tokens":99999}`, status: 400},
		{name: "truncated", path: "/v1/messages", body: `{"max_tokens":1,"messages":[`, status: 400},
		{name: "invalid utf-8", path: "/v1/messages", body: "{\"max_tokens\":1,\"x\":\"\xff\"}", status: 400},
		{name: "byte order mark", path: "/v1/messages", body: "\uFEFF" + `{"max_tokens":1}`, status: 400},
		{name: "duplicate max_tokens", path: "/v1/messages", body: `{"max_tokens":1,"max_tokens":100000}`, status: 400},
		{name: "duplicate max_tokens, escaped", path: "/v1/messages", body: `{"max_tokens":1,"max\u005ftokens":100000}`, status: 400},
		{name: "duplicate other key", path: "/v1/messages", body: `{"max_tokens":1,"model":"a","model":"b"}`, status: 400},
		{name: "no max_tokens", path: "/v1/messages", body: `{"model":"m"}`, status: 400},
		{name: "MAX_TOKENS only", path: "/v1/messages", body: `{"MAX_TOKENS":1}`, status: 400},
		{name: "max_tokens 0", path: "/v1/messages", body: `{"max_tokens":0}`, status: 400},
		{name: "max_tokens negative", path: "/v1/messages", body: `{"max_tokens":-5}`, status: 400},
		{name: "max_tokens fraction", path: "/v1/messages", body: `{"max_tokens":1.5}`, status: 400},
		{name: "max_tokens exponent", path: "/v1/messages", body: `{"max_tokens":1e3}`, status: 400},
		{name: "max_tokens string", path: "/v1/messages", body: `{"max_tokens":"100"}`, status: 400},
		{name: "max_tokens huge", path: "/v1/messages", body: `{"max_tokens":99999999999999999999}`, status: 400},
		{name: "gzip with content-encoding", path: "/v1/messages", body: gz.String(), hdr: map[string]string{"Content-Encoding": "gzip"}, status: 400},
		{name: "ok", path: "/v1/messages", body: msgBody, status: 200},
		{name: "ok with whitespace", path: "/v1/messages", body: " {\n\"max_tokens\" : 7 } \n", status: 200},
		{name: "count_tokens needs no max_tokens", path: "/v1/messages/count_tokens", body: `{"model":"m","messages":[]}`, status: 200},
		{name: "count_tokens still one object", path: "/v1/messages/count_tokens", body: `[]`, status: 400},
	}
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey})
	c, _ := h.listen("main")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(c, post(tt.path, tt.body, tt.hdr))
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.status == 200 {
				if got := recv(t, seen); string(got.Body) != tt.body {
					t.Errorf("upstream body %q", got.Body)
				}
				return
			}
			if typ, _ := errorBody(t, a); typ != "invalid_request_error" {
				t.Errorf("error type %q", typ)
			}
			noRequest(t, seen)
		})
	}
}

func TestUpstreamDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	up, _ := url.Parse(srv.URL)
	srv.Close() // nothing listens there now
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: 1000})
	c, _ := h.listen("main")
	a := h.do(c, post("/v1/messages", msgBody, map[string]string{"X-Api-Key": "placeholder"}))
	if a.status != http.StatusBadGateway {
		t.Fatalf("status %d", a.status)
	}
	if typ, _ := errorBody(t, a); typ != "api_error" {
		t.Errorf("error type %q", typ)
	}
	if !strings.Contains(h.logs.String(), "status=502") {
		t.Errorf("502 not logged: %s", h.logs.String())
	}
	if u := h.p.Usage("main"); u.Reserved != 0 || u.InFlight != 0 || u.TotalTokens != 0 || u.Requests != 1 {
		t.Errorf("a failed request must release its reservation: %+v", u)
	}
}

// sse formats one server-sent event.
func sse(event, data string) string { return "event: " + event + "\ndata: " + data + "\n\n" }

func TestStreamingSSE(t *testing.T) {
	next := make(chan struct{})
	up, _ := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, sse("message_start", `{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"cache_read_input_tokens":7,"cache_creation_input_tokens":2,"output_tokens":1}}}`))
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
	resp, err := c.Do(post("/v1/messages", `{"stream":true,"max_tokens":100}`, nil))
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
	if u := h.p.Usage("main"); u.InFlight != 1 || u.Reserved != 100+8 {
		t.Errorf("mid-stream: %+v, want one request in flight reserving 108", u)
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
	want := Tokens{Input: 25, Output: 15, CacheRead: 7, CacheWrite: 2}
	if u.Tokens != want || u.TotalTokens != 49 || u.Requests != 1 || u.Reserved != 0 || u.InFlight != 0 {
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
		if a := h.do(c, post("/v1/messages", msgBody, nil)); a.status != 200 || !strings.Contains(a.body, "msg_1") {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
	}
	if u := h.p.Usage("main"); u.Requests != 2 || u.Tokens != (Tokens{Input: 6, Output: 8}) || u.TotalTokens != 14 {
		t.Errorf("usage %+v", u)
	}
}

func TestBudget(t *testing.T) {
	var mu sync.Mutex
	// 23:00 UTC is 01:00 the next day in Europe/Helsinki (UTC+2 in March): the budget's
	// day is the host's.
	helsinki, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	up, seen := mockUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"usage":{"input_tokens":60,"output_tokens":50}}`)
	})
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxTokensPerDay: 100,
		GroupBudgets: map[string]int64{"unlimited": 0}, Clock: clock, Location: helsinki})
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
		{"22:30 UTC is the next day in Helsinki: allowed", c, 90 * time.Minute, 200, true},
		{"and over again", c, 0, 429, false},
	}
	for _, tt := range tests {
		if tt.advance > 0 {
			if u := h.p.Usage("unlimited"); u.Requests != 2 || u.Refusals != 0 || u.Budget != 0 || u.TotalTokens != 220 {
				t.Errorf("unlimited usage %+v", u)
			}
		}
		mu.Lock()
		now = now.Add(tt.advance)
		mu.Unlock()
		a := h.do(tt.client, post("/v1/messages", msgBody, nil))
		if a.status != tt.status {
			t.Fatalf("%s: status %d, want %d", tt.name, a.status, tt.status)
		}
		if tt.upstream {
			recv(t, seen)
			continue
		}
		noRequest(t, seen)
		typ, msg := errorBody(t, a)
		if typ != "rate_limit_error" || !strings.Contains(msg, "budget is 100 tokens") {
			t.Errorf("%s: error %q %q", tt.name, typ, msg)
		}
		mu.Lock()
		local := now.In(helsinki)
		midnight := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, helsinki)
		wantRA := fmt.Sprint(int(midnight.Sub(now).Seconds()))
		mu.Unlock()
		if ra := a.header.Get("Retry-After"); ra != wantRA {
			t.Errorf("%s: Retry-After %q, want %s", tt.name, ra, wantRA)
		}
		if a.header.Get("X-Should-Retry") != "false" {
			t.Errorf("%s: the SDK would retry a refusal that lasts until midnight", tt.name)
		}
	}
	if u := h.p.Usage("main"); u.Day != "2026-03-02" || u.Requests != 1 || u.Refusals != 1 || u.TotalTokens != 110 || u.Budget != 100 {
		t.Errorf("main usage today %+v", u)
	}
	if u := h.p.Usage("unlimited"); u.Day != "2026-03-02" || u.Requests != 0 {
		t.Errorf("unlimited usage today %+v", u)
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
		h.do(ca, post("/v1/messages", msgBody, spoof))
		recv(t, seen)
	}
	h.do(cb, post("/v1/messages", msgBody, nil))
	recv(t, seen)
	if u := h.p.Usage("alpha"); u.Requests != 3 || u.Input != 9 {
		t.Errorf("alpha %+v", u)
	}
	if u := h.p.Usage("beta"); u.Requests != 1 || u.Output != 4 {
		t.Errorf("beta %+v", u)
	}
	if u := h.p.Usage("nobody"); u.Requests != 0 || u.TotalTokens != 0 {
		t.Errorf("unknown group %+v", u)
	}
}

func TestBodyTooLarge(t *testing.T) {
	up, seen := mockUpstream(t, nil)
	h := newHarness(t, Config{Upstream: up, APIKey: realKey, MaxRequestBytes: 1024})
	c, _ := h.listen("main")
	fill := func(n int) string { // a valid body of exactly n bytes
		b := `{"max_tokens":1,"x":""}`
		return b[:len(b)-2] + strings.Repeat("x", n-len(b)) + `"}`
	}
	tests := []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"exactly the limit", strings.NewReader(fill(1024)), 200},
		{"content-length over the limit", strings.NewReader(fill(1025)), 413},
		{"chunked over the limit", io.MultiReader(strings.NewReader(fill(2048))), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://container/v1/messages", tt.body)
			a := h.do(c, req)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.status == 200 {
				if got := recv(t, seen); len(got.Body) != 1024 {
					t.Errorf("upstream body %d bytes", len(got.Body))
				}
				return
			}
			if typ, _ := errorBody(t, a); typ != "request_too_large" {
				t.Errorf("error type %q", typ)
			}
			noRequest(t, seen) // not even the start of it
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
		a := h.do(c, post("/v1/messages", msgBody, hdr))
		if a.status != 401 || a.header.Get("Set-Cookie") != "" {
			t.Errorf("answer %d %v", a.status, a.header)
		}
	}
	h.do(c, post("/v1/nope", "", nil))
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
				p, err := New(c)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				p.Close()
			}
		})
	}
	for _, c := range []Config{{}, {APIKey: "k", MaxTokensPerDay: -1}, {APIKey: "k", GroupBudgets: map[string]int64{"g": -5}},
		{APIKey: "k", MaxConcurrency: -1}, {APIKey: "k", MaxQueued: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%v) accepted", c)
		}
	}
}
