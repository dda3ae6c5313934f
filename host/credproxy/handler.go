package credproxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// exchange follows one request from arrival to its log line.
type exchange struct {
	group  string
	status int // what the container was answered; 499 when it went away first
	rule   string
	ticket *ticket
	sent   bool // the request reached the upstream

	reserve   int64 // maxTokens + inputEst
	maxTokens int64
	inputEst  int64
	tokens    Tokens
	metered   bool // the response's type carries usage
	seen      bool // and usage was found in it
	cut       bool // the response ended early: upstream error or container gone
	abort     bool // abort the container's response (it was cut mid-body)
	err       error
}

// serve answers one request of group's: rules, body, admission, forwarding, settling.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, group string) {
	start := time.Now()
	x := &exchange{group: group}
	defer p.finish(x, r, start)

	ep, ref := checkRoute(r.Method, r.URL)
	var body []byte
	if ref == nil {
		body, ref = readBody(r, p.maxBody)
	}
	var maxTokens int64
	if ref == nil {
		maxTokens, ref = checkBody(ep, body)
	}
	if ref == nil && ep.generates {
		x.maxTokens, x.reserve = maxTokens, reservation(maxTokens, len(body))
		x.inputEst = x.reserve - maxTokens
	}
	if ref == nil {
		x.ticket, ref = p.admit(r.Context(), group, x.reserve)
		if x.ticket == nil && ref == nil {
			x.status, x.err = 499, r.Context().Err()
			return
		}
	}
	if ref != nil {
		p.refused(group)
		x.status, x.rule, x.err = ref.status, ref.rule, ref
		writeRefusal(w, ref)
		return
	}
	p.forward(w, r, ep, body, x)
}

// finish settles the request's reservation, logs it, and aborts a response that was cut.
func (p *Proxy) finish(x *exchange, r *http.Request, start time.Time) {
	if x.ticket != nil {
		used := x.tokens
		// A complete success that should have reported usage and did not (a JSON body past
		// the meter's limit, a compatible endpoint that omits it) is charged what it
		// reserved: a response the meter cannot read must not be free.
		if x.metered && !x.seen && !x.cut && x.status/100 == 2 {
			used = Tokens{Input: x.inputEst, Output: x.maxTokens}
		}
		p.settle(x.ticket, used, x.sent)
	}
	args := []any{"group", x.group, "method", r.Method, "target", logTarget(r.RequestURI), "status", x.status,
		"reserved", x.reserve, "input_tokens", x.tokens.Input, "output_tokens", x.tokens.Output,
		"cache_write_tokens", x.tokens.CacheWrite, "cache_read_tokens", x.tokens.CacheRead,
		"duration", time.Since(start).Round(time.Millisecond)}
	if x.rule != "" {
		args = append(args, "refused", x.rule)
	}
	if x.metered && !x.seen && x.status/100 == 2 {
		args = append(args, "usage", "missing")
	}
	if x.cut {
		args = append(args, "cut", true)
	}
	if x.err != nil {
		args = append(args, "error", x.err)
	}
	switch {
	case x.status >= 500 || x.status == 0 || x.rule == "endpoint" || x.rule == "body":
		p.log.Warn("request", args...)
	default:
		p.log.Info("request", args...)
	}
	if p.onDone != nil {
		p.onDone(x.group)
	}
	if x.abort {
		panic(http.ErrAbortHandler) // the container sees a broken response, not a short one
	}
}

// logTarget is a request target fit for a log line: escaped and cut short.
func logTarget(s string) string {
	const limit = 200
	q := strconv.QuoteToASCII(s)
	q = q[1 : len(q)-1]
	if len(q) > limit {
		q = q[:limit] + "..."
	}
	return q
}

// forward sends the checked request upstream and streams the answer back, metering it.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ep *endpoint, body []byte, x *exchange) {
	target := p.upstream.JoinPath(ep.path)
	if r.URL.RawQuery != "" {
		target.RawQuery = strings.TrimPrefix(target.RawQuery+"&"+r.URL.RawQuery, "&")
	}
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		x.status, x.err = http.StatusBadGateway, err
		writeError(w, x.status, "api_error", "the host's API proxy could not build the upstream request")
		return
	}
	out.Header = p.upstreamHeader(r.Header)
	x.sent = true
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil {
			x.status, x.err = 499, r.Context().Err() // the container went away; nobody to answer
			return
		}
		// The message is fixed: a transport error can carry URLs, and the container needs none.
		x.status, x.err = http.StatusBadGateway, err
		writeError(w, x.status, "api_error", "the model API could not be reached through the host's proxy")
		return
	}
	defer resp.Body.Close()
	x.status = resp.StatusCode
	copyResponseHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)

	meter := newUsageMeter(modeFor(resp.Header.Get("Content-Type")))
	x.metered = meter.mode != meterNone
	flush := meter.mode == meterSSE || resp.ContentLength < 0 // stream as it comes
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			_, _ = meter.Write(buf[:n])
			_, werr := w.Write(buf[:n])
			if werr == nil && flush {
				werr = rc.Flush()
			}
			if werr != nil {
				x.cut, x.err = true, werr // the container went away
				break
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			x.cut, x.abort, x.err = true, true, rerr
			break
		}
	}
	x.tokens, x.seen = meter.Result()
}

// copyResponseHeader passes the upstream's response headers on, less the hop-by-hop ones
// (and those Connection names) and cookies: the container has no business with the
// upstream's sessions.
func copyResponseHeader(dst, src http.Header) {
	drop := map[string]bool{"Set-Cookie": true, "Set-Cookie2": true, "Proxy-Connection": true}
	for _, k := range []string{"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		drop[k] = true
	}
	for _, v := range src.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				drop[textproto.CanonicalMIMEHeaderKey(name)] = true
			}
		}
	}
	for k, vs := range src {
		if !drop[k] {
			dst[k] = append([]string(nil), vs...)
		}
	}
}

// RuleHeader names the proxy rule behind a refusal (budget, queue, endpoint, body...).
const RuleHeader = "X-Nanoclaw-Rule"

// writeRefusal answers a refusal in the API's error shape.
func writeRefusal(w http.ResponseWriter, r *refusal) {
	if r.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(r.retryAfter))
	}
	if r.noRetry {
		w.Header().Set("X-Should-Retry", "false")
	}
	// Which of the proxy's rules refused, so the agent runner can tell the host (a used-up
	// budget is not an upstream rate limit).
	w.Header().Set(RuleHeader, r.rule)
	writeError(w, r.status, r.typ, r.msg)
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
