package credproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// credentialHeaders are dropped from every request, whatever the container put in them.
var credentialHeaders = []string{
	"X-Api-Key", "Authorization", "Anthropic-Api-Key", "Cookie", "Proxy-Authorization",
}

// credentialish catches the credential headers of other compatible APIs (api-key,
// x-goog-api-key, x-auth-token, ...) by name.
func credentialish(lower string) bool {
	for _, s := range []string{"api-key", "apikey", "auth", "token", "secret", "cookie", "session"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// hopByHop are the RFC 9110 §7.6.1 connection headers, which never travel past one hop.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// sanitize removes from h every credential and hop-by-hop header, the headers Connection
// names, and Accept-Encoding (the transport negotiates compression itself and hands the
// body on decompressed, so usage can be read from it).
func sanitize(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	for _, k := range credentialHeaders {
		h.Del(k)
	}
	for k := range h {
		lower := strings.ToLower(k)
		if strings.HasPrefix(lower, "proxy-") || credentialish(lower) {
			delete(h, k)
		}
	}
	h.Del("Accept-Encoding")
}

// reqState follows one request through the reverse proxy (carried in its context).
type reqState struct {
	group    string
	status   int
	meter    *usageMeter
	hadAuth  bool        // the container sent an Authorization header (before sanitize)
	tooLarge atomic.Bool // set by the transport's body writer
	err      error
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	s, _ := r.Context().Value(stateKey{}).(*reqState)
	return s
}

// allowedPath: only the API, under /v1/, and only in canonical form, so "/v1/../x" cannot
// reach anything else on the upstream.
func allowedPath(p string) bool {
	return strings.HasPrefix(p, "/v1/") && len(p) > len("/v1/") && path.Clean(p) == p
}

// handler serves one group's socket; group is fixed by the socket, never read from the request.
func (p *Proxy) handler(group string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{group: group}
		defer func() {
			tokens, seen := Tokens{}, false
			if st.meter != nil {
				tokens, seen = st.meter.Result()
				p.record(group, tokens)
			}
			args := []any{"group", group, "method", r.Method, "path", r.URL.Path, "status", st.status,
				"input_tokens", tokens.Input, "output_tokens", tokens.Output,
				"cache_creation_tokens", tokens.CacheCreation, "cache_read_tokens", tokens.CacheRead,
				"duration", time.Since(start).Round(time.Millisecond)}
			if st.meter != nil && st.meter.mode != meterNone && !seen && st.status/100 == 2 {
				args = append(args, "usage", "missing")
			}
			if st.err != nil {
				args = append(args, "error", st.err)
			}
			if st.status >= 500 || st.status == 0 {
				p.log.Warn("request", args...)
			} else {
				p.log.Info("request", args...)
			}
			if p.onDone != nil {
				p.onDone(group)
			}
		}()

		if !allowedPath(r.URL.Path) {
			st.status = http.StatusNotFound
			writeError(w, st.status, "not_found_error", "the proxy serves only the API under /v1/")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete:
		default:
			st.status = http.StatusMethodNotAllowed
			writeError(w, st.status, "invalid_request_error", "method not allowed")
			return
		}
		if r.ContentLength > p.maxBody {
			st.status = http.StatusRequestEntityTooLarge
			writeError(w, st.status, "request_too_large", tooLargeMsg(p.maxBody))
			return
		}
		if ok, used, budget := p.admit(group); !ok {
			st.status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(p.secondsToMidnight()))
			writeError(w, st.status, "rate_limit_error", fmt.Sprintf(
				"group %q has used %d tokens today, its daily budget is %d tokens", group, used, budget))
			return
		}
		st.hadAuth = r.Header.Get("Authorization") != ""
		sanitize(r.Header)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &limitedBody{rc: r.Body, left: p.maxBody, st: st}
		}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		p.rp.ServeHTTP(w, r)
	})
}

func tooLargeMsg(limit int64) string {
	return fmt.Sprintf("request body exceeds the proxy's limit of %d bytes", limit)
}

func (p *Proxy) secondsToMidnight() int {
	now := p.clock().UTC()
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return max(1, int(next.Sub(now).Seconds()))
}

// rewrite builds the upstream request. ReverseProxy has already removed the hop-by-hop and
// X-Forwarded-* headers; the handler removed every credential header.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.upstream) // joins the paths, merges the queries, sets Host
	out := pr.Out.Header
	st := stateOf(pr.In)
	if p.authToken != "" && st != nil && st.hadAuth {
		out.Set("Authorization", "Bearer "+p.authToken)
	} else if p.apiKey != "" {
		out.Set("X-Api-Key", p.apiKey)
	}
}

// modifyResponse tees the body through the usage meter and drops cookies (the container has
// no business with the upstream's session cookies).
func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := stateOf(resp.Request)
	if st == nil {
		return nil
	}
	st.status = resp.StatusCode
	resp.Header.Del("Set-Cookie")
	st.meter = newUsageMeter(modeFor(resp.Header.Get("Content-Type")))
	if st.meter.mode != meterNone {
		resp.Body = &teeBody{rc: resp.Body, w: st.meter}
	}
	return nil
}

// upstreamError answers when the upstream could not be reached or the request body broke.
// The message is fixed: a transport error can carry URLs, and the container needs none.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r)
	if st == nil {
		st = &reqState{}
	}
	switch {
	case st.tooLarge.Load():
		st.status = http.StatusRequestEntityTooLarge
		writeError(w, st.status, "request_too_large", tooLargeMsg(p.maxBody))
	case r.Context().Err() != nil:
		st.status = 499 // the container went away; nobody to answer
		st.err = r.Context().Err()
	default:
		st.status = http.StatusBadGateway
		st.err = err
		writeError(w, st.status, "api_error", "the model API could not be reached through the host's proxy")
	}
}

// writeError answers in the Messages API's error shape.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	body, _ := json.Marshal(map[string]any{
		"type":  "error",
		"error": map[string]string{"type": typ, "message": msg},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// limitedBody fails a request body that passes the limit, and marks the request so the
// error handler answers 413.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	st   *reqState
}

var errTooLarge = errors.New("request body too large")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: a body of exactly the limit is fine.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.st.tooLarge.Store(true)
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// teeBody copies what is read from a response body into the usage meter.
type teeBody struct {
	rc io.ReadCloser
	w  io.Writer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 {
		_, _ = t.w.Write(p[:n])
	}
	return n, err
}

func (t *teeBody) Close() error { return t.rc.Close() }
