package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// TestFailureKinds: a failed turn says what kind of failure it was, from the API's answer.
func TestFailureKinds(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header string
		body   string
		want   string
	}{
		{"bad key", 401, "", `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, runproto.ErrorAuth},
		{"forbidden", 403, "", `{"type":"error","error":{"type":"permission_error","message":"no"}}`, runproto.ErrorAuth},
		{"budget", 429, "budget", `{"type":"error","error":{"type":"rate_limit_error","message":"group has used 5000 tokens today"}}`, runproto.ErrorBudget},
		{"rate limit", 429, "", `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, runproto.ErrorTransient},
		{"overloaded", 529, "", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, runproto.ErrorTransient},
		{"server error", 500, "", `{"type":"error","error":{"type":"api_error","message":"boom"}}`, runproto.ErrorTransient},
		{"prompt too long", 400, "", `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`, runproto.ErrorContext},
		{"request too large", 413, "", `{"type":"error","error":{"type":"request_too_large","message":"too big"}}`, runproto.ErrorContext},
		{"unknown model", 404, "", `{"type":"error","error":{"type":"not_found_error","message":"model: nope"}}`, runproto.ErrorConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &mockAPI{script: func(int, map[string]any) (int, string) { return tc.status, tc.body }}
			h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set(ruleHeader, tc.header)
				}
				api.ServeHTTP(w, r)
			}))
			h.start(baseRequest())
			o := h.next()
			h.exitCode()
			if o.Status != "error" || o.ErrorKind != tc.want {
				t.Fatalf("output %+v, want kind %s", o, tc.want)
			}
		})
	}
	if got := classify(fmt.Errorf("dial unix: connection refused")); got != runproto.ErrorTransient {
		t.Errorf("a network error is %s", got)
	}
}
