package credproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What reaches the upstream is decided here, before anything is sent: which endpoint
// (checkRoute), which request headers (upstreamHeader) and which bodies (checkBody). An
// agent runs the Messages API's tool loop and nothing else, so anything else a container
// asks for is refused, whatever the upstream would do with it: with the host's key, the
// upstream's other endpoints read and delete files, run batches, list an organization's
// keys.

// endpoint is one API operation an agent may call.
type endpoint struct {
	path string
	// generates says the request makes the model generate tokens: max_tokens is required,
	// and reserved against the group's budget with the request's input.
	generates bool
}

var (
	epMessages    = &endpoint{path: "/v1/messages", generates: true}
	epCountTokens = &endpoint{path: "/v1/messages/count_tokens"}
	endpoints     = []*endpoint{epMessages, epCountTokens}
)

// betaQuery is the one query an endpoint accepts: the SDK's Beta namespace adds it.
const betaQuery = "beta=true"

// refusal is the proxy's own answer to a request it does not forward, in the API's error
// shape (writeError).
type refusal struct {
	status int
	typ    string // error.type
	rule   string // which rule refused, for the log line
	msg    string
	// retryAfter, when > 0, is sent as Retry-After (seconds); noRetry sends
	// x-should-retry: false, which the SDKs obey over the status code.
	retryAfter int
	noRetry    bool
}

func (r *refusal) Error() string { return r.rule + ": " + r.msg }

const routeRule = "only POST /v1/messages and POST /v1/messages/count_tokens (optionally ?beta=true) are forwarded"

// checkRoute is the endpoint rule: POST to one of the endpoints, the path in its one
// canonical form (no escapes, dot segments or doubled slashes that the upstream might read
// differently), and no query but betaQuery.
func checkRoute(method string, u *url.URL) (*endpoint, *refusal) {
	deny := func(what string) (*endpoint, *refusal) {
		return nil, &refusal{status: http.StatusForbidden, typ: "permission_error", rule: "endpoint",
			msg: "refused by the host's API proxy (" + what + "): " + routeRule}
	}
	var ep *endpoint
	for _, e := range endpoints {
		if u.Path == e.path && u.RawPath == "" {
			ep = e
		}
	}
	switch {
	case ep == nil:
		return deny("path")
	case method != http.MethodPost:
		return deny("method")
	case u.RawQuery != "" && u.RawQuery != betaQuery:
		return deny("query")
	}
	return ep, nil
}

// OAuthBeta is the anthropic-beta flag the API requires of a request authenticated with an
// OAuth access token (Claude Code's sign-in); without it the API answers 401.
const OAuthBeta = "oauth-2025-04-20"

// passedHeaders are the only request headers a container's request keeps: the API version,
// content negotiation and beta flags (anthropic-beta is rebuilt by mergeBetas). Everything
// else is dropped: credentials of any spelling, hop-by-hop and forwarding headers,
// method overrides, Expect, Content-Encoding (the body was checked as it is) and whatever
// else an upstream might act on.
var passedHeaders = []string{"Anthropic-Version", "Content-Type", "Accept"}

// upstreamHeader builds the headers of the upstream request from the container's: the
// passed headers, the anthropic-beta flags merged, and the proxy's own credentials.
func (p *Proxy) upstreamHeader(in http.Header) http.Header {
	out := make(http.Header, len(passedHeaders)+2)
	for _, k := range passedHeaders {
		if v := in.Values(k); len(v) > 0 {
			out[k] = append([]string(nil), v...)
		}
	}
	var extra []string
	if p.cred == credToken {
		extra = append(extra, OAuthBeta)
	}
	if b := mergeBetas(in.Values("Anthropic-Beta"), extra...); b != "" {
		out.Set("Anthropic-Beta", b)
	}
	// No User-Agent: the container's is dropped, and an empty one keeps the transport
	// from adding its own.
	out["User-Agent"] = []string{""}
	switch p.cred {
	case credAPIKey:
		out.Set("X-Api-Key", p.apiKey)
	case credToken:
		out.Set("Authorization", "Bearer "+p.authToken)
	}
	return out
}

// mergeBetas joins the comma-separated flags of every anthropic-beta line and extra into
// one list, in order, each flag once.
func mergeBetas(lines []string, extra ...string) string {
	var flags []string
	seen := map[string]bool{}
	add := func(f string) {
		if f = strings.TrimSpace(f); f != "" && !seen[f] {
			seen[f] = true
			flags = append(flags, f)
		}
	}
	for _, l := range lines {
		for f := range strings.SplitSeq(l, ",") {
			add(f)
		}
	}
	for _, f := range extra {
		add(f)
	}
	return strings.Join(flags, ",")
}

// readBody reads a request body of at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, *refusal) {
	tooLarge := &refusal{status: http.StatusRequestEntityTooLarge, typ: "request_too_large", rule: "body size",
		msg: fmt.Sprintf("request body exceeds the host's API proxy limit of %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return nil, &refusal{status: http.StatusBadRequest, typ: "invalid_request_error", rule: "body",
			msg: "the request body could not be read"}
	}
	if int64(buf.Len()) > limit {
		return nil, tooLarge
	}
	return buf.Bytes(), nil
}

// maxMaxTokens bounds max_tokens: far above any model's output limit, and small enough
// that a reservation cannot overflow.
const maxMaxTokens = 1 << 32

// checkBody is the body rule, applied before anything goes upstream: a JSON object in
// UTF-8 with nothing after it and no top-level key twice (so no parser the upstream uses
// can read a different max_tokens than the proxy reserved for), and for an endpoint that
// generates, max_tokens a positive integer. It returns max_tokens (0 when the endpoint does
// not generate).
func checkBody(ep *endpoint, body []byte) (int64, *refusal) {
	bad := func(msg string) (int64, *refusal) {
		return 0, &refusal{status: http.StatusBadRequest, typ: "invalid_request_error", rule: "body", msg: msg}
	}
	if !utf8.Valid(body) {
		return bad("the request body is not UTF-8")
	}
	var maxTokens json.RawMessage
	if err := topLevel(body, func(key string, v json.RawMessage) {
		if key == "max_tokens" {
			maxTokens = v
		}
	}); err != nil {
		return bad("the request body must be one JSON object: " + err.Error())
	}
	if !ep.generates {
		return 0, nil
	}
	if maxTokens == nil {
		return bad("max_tokens: field required")
	}
	n, err := strconv.ParseInt(string(maxTokens), 10, 64)
	if err != nil || n < 1 || n > maxMaxTokens {
		return bad(fmt.Sprintf("max_tokens: must be a whole number from 1 to %d", int64(maxMaxTokens)))
	}
	return n, nil
}

var errDuplicateKey = errors.New("duplicate key")

// topLevel walks a JSON object's members, calling fn with each key (unescaped) and raw
// value; the whole body must be that one valid object.
func topLevel(body []byte, fn func(key string, v json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return err
	} else if tok != json.Delim('{') {
		return errors.New("not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // inside an object the decoder yields only string keys
		if seen[key] {
			return fmt.Errorf("%w %q", errDuplicateKey, key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		fn(key, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

// reservation is what a request is taken to cost until its response reports its usage:
// max_tokens (the most it can generate, thinking included) plus its input, estimated as
// one token per four bytes of body (rounded up). English text runs about four characters a
// token; JSON's punctuation, base64 images and documents make the estimate high for most
// bodies. A request that uses more (dense non-Latin text, server tools that sample several
// times) is charged what it used, so the budget still counts it, late.
func reservation(maxTokens int64, bodyLen int) int64 {
	return maxTokens + (int64(bodyLen)+3)/4
}
