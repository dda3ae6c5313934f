package credproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMergeBetas(t *testing.T) {
	tests := []struct {
		lines []string
		extra []string
		want  string
	}{
		{nil, nil, ""},
		{nil, []string{OAuthBeta}, OAuthBeta},
		{[]string{"a,b", " b , c ", ""}, nil, "a,b,c"},
		{[]string{"a," + OAuthBeta}, []string{OAuthBeta}, "a," + OAuthBeta},
		{[]string{",,", " "}, []string{OAuthBeta}, OAuthBeta},
	}
	for _, tt := range tests {
		if got := mergeBetas(tt.lines, tt.extra...); got != tt.want {
			t.Errorf("mergeBetas(%q, %q) = %q, want %q", tt.lines, tt.extra, got, tt.want)
		}
	}
}

func TestReservation(t *testing.T) {
	for _, tt := range []struct {
		maxTokens int64
		bodyLen   int
		want      int64
	}{
		{1000, 0, 1000}, {1000, 1, 1001}, {1000, 4, 1001}, {1000, 5, 1002}, {1, 32 << 20, 1 + 8<<20},
	} {
		if got := reservation(tt.maxTokens, tt.bodyLen); got != tt.want {
			t.Errorf("reservation(%d, %d) = %d, want %d", tt.maxTokens, tt.bodyLen, got, tt.want)
		}
	}
}

// fuzzProxies are a proxy of each credential kind, for the header invariants.
func fuzzProxies(t testing.TB) []*Proxy {
	var ps []*Proxy
	for _, cfg := range []Config{{APIKey: realKey}, {AuthToken: realToken}} {
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// FuzzRequestRules feeds raw request heads, parsed as the agent socket's server parses
// them, to the endpoint rule and the header filter. Whatever is accepted is a POST to one
// of the two endpoints in canonical form with no query but beta=true; the upstream gets
// only the passed headers with the container's values, one anthropic-beta list without
// duplicates (with the OAuth flag in token mode), no User-Agent, and exactly the proxy's
// credential, never the container's.
func FuzzRequestRules(f *testing.F) {
	for _, seed := range []string{
		"POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Api-Key: placeholder\r\nAnthropic-Beta: a,b\r\nAnthropic-Beta: b\r\n\r\n",
		"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer p\r\nAnthropic-Version: 2023-06-01\r\n\r\n",
		"POST /v1/messages/count_tokens?beta=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: */*\r\n\r\n",
		"GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n",
		"DELETE /v1/files/f HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/%6dessages HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/messages/../batches HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST http://evil/v1/messages?beta=true&x HTTP/1.1\r\nHost: y\r\nConnection: Anthropic-Version\r\n\r\n",
		"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAnthropic-Beta: " + OAuthBeta + ", " + OAuthBeta + "\r\nX-Http-Method-Override: DELETE\r\n\r\n",
	} {
		f.Add(seed)
	}
	proxies := fuzzProxies(f)
	passed := map[string]bool{"Anthropic-Version": true, "Content-Type": true, "Accept": true}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		ep, ref := checkRoute(req.Method, req.URL)
		switch {
		case (ep == nil) == (ref == nil):
			t.Fatalf("checkRoute gave %v and %v", ep, ref)
		case ref != nil:
			if ref.status != http.StatusForbidden || ref.typ != "permission_error" || !strings.Contains(ref.msg, routeRule) {
				t.Fatalf("refusal %+v", ref)
			}
		default:
			if req.Method != http.MethodPost || req.URL.Path != ep.path || req.URL.EscapedPath() != ep.path ||
				req.URL.RawQuery != "" && req.URL.RawQuery != betaQuery || !slices.Contains(endpoints, ep) {
				t.Fatalf("accepted %s %s (path %q, query %q)", req.Method, req.URL, req.URL.Path, req.URL.RawQuery)
			}
		}
		var inFlags []string
		for _, l := range req.Header.Values("Anthropic-Beta") {
			for fl := range strings.SplitSeq(l, ",") {
				inFlags = append(inFlags, strings.TrimSpace(fl))
			}
		}
		for _, p := range proxies {
			out := p.upstreamHeader(req.Header)
			for k, vs := range out {
				switch {
				case passed[k]:
					if !slices.Equal(vs, req.Header[k]) {
						t.Fatalf("%s = %q, the container sent %q", k, vs, req.Header[k])
					}
				case k == "Anthropic-Beta":
					flags := strings.Split(vs[0], ",")
					if len(vs) != 1 || slices.Contains(flags, "") {
						t.Fatalf("anthropic-beta %q", vs)
					}
					for i, fl := range flags {
						if slices.Contains(flags[:i], fl) || !slices.Contains(inFlags, fl) && fl != OAuthBeta {
							t.Fatalf("anthropic-beta %q from %q", vs, inFlags)
						}
					}
				case k == "User-Agent":
					if len(vs) != 1 || vs[0] != "" {
						t.Fatalf("User-Agent %q", vs)
					}
				case k == "X-Api-Key" && p.cred == credAPIKey:
					if len(vs) != 1 || vs[0] != realKey {
						t.Fatalf("x-api-key %q", vs)
					}
				case k == "Authorization" && p.cred == credToken:
					if len(vs) != 1 || vs[0] != "Bearer "+realToken {
						t.Fatalf("authorization %q", vs)
					}
				default:
					t.Fatalf("the upstream would get %s: %q", k, vs)
				}
			}
			if p.cred == credToken && !strings.Contains(out.Get("Anthropic-Beta"), OAuthBeta) {
				t.Fatalf("token mode without the OAuth flag: %q", out.Get("Anthropic-Beta"))
			}
			if p.cred == credAPIKey && out.Get("X-Api-Key") == "" || p.cred == credToken && out.Get("Authorization") == "" {
				t.Fatal("no credential")
			}
		}
	})
}

// FuzzRequestBody feeds bodies to the body rule. It never panics; whatever it accepts is
// one JSON object in UTF-8 whose max_tokens, read the way a dictionary-based upstream reads
// it, is exactly what the proxy reserves for (and a positive whole number when the endpoint
// generates); every refusal is a 400 in the API's shape; invalid JSON is always refused.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		msgBody, `{"max_tokens":1}`, `{"max_tokens":1,"max_tokens":2}`, `{"max_tokens":1,"max\u005ftokens":2}`,
		`{"MAX_TOKENS":5,"max_tokens":1}`, `[1]`, `{"max_tokens":1e3}`, `{"max_tokens":-1}`, `{"max_tokens":4294967297}`,
		`{"max_tokens": 7 ,"messages":[{"role":"user","content":"hi"}]} `, `{"a":{"max_tokens":1,"max_tokens":2}}`,
		"{\"max_tokens\":1,\"x\":\"\xff\"}", `{"max_tokens":1}x`, `{}`, `{"stream":true,"max_tokens":0}`,
	} {
		f.Add([]byte(seed), true)
	}
	f.Add([]byte(`{"model":"m"}`), false)
	f.Fuzz(func(t *testing.T, body []byte, generates bool) {
		ep := epCountTokens
		if generates {
			ep = epMessages
		}
		n, ref := checkBody(ep, body)
		if ref != nil {
			if ref.status != http.StatusBadRequest || ref.typ != "invalid_request_error" || n != 0 {
				t.Fatalf("refusal %+v, %d", ref, n)
			}
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
			t.Fatalf("accepted a non-object %q", body)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q, which does not decode as an object: %v", body, err)
		}
		if !generates {
			if n != 0 {
				t.Fatalf("count_tokens reserved %d", n)
			}
			return
		}
		want, err := strconv.ParseInt(string(m["max_tokens"]), 10, 64)
		if err != nil || want != n || n < 1 || n > maxMaxTokens {
			t.Fatalf("max_tokens %d, the body says %q", n, m["max_tokens"])
		}
		if r := reservation(n, len(body)); r < n || r > n+int64(len(body)) {
			t.Fatalf("reservation %d for %d and %d bytes", r, n, len(body))
		}
	})
}
