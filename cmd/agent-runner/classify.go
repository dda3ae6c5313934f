package main

import (
	"errors"
	"net/http"
	"strings"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// ruleHeader is the credential proxy's header naming the rule that refused a request
// (host/credproxy.RuleHeader; the runner does not import host code).
const ruleHeader = "X-Nanoclaw-Rule"

// classify tells the host what kind of failure err is, so it retries only what can pass and
// tells the chat plainly about what cannot.
func classify(err error) string {
	// A summarizing request that failed left a conversation too long to go on, unless its
	// failure says nothing about length and waiting mends it (the budget, the credentials,
	// an outage): then the conversation is kept for the retry.
	var se *summaryError
	if errors.As(err, &se) {
		switch kind := classify(se.err); kind {
		case runproto.ErrorBudget, runproto.ErrorAuth, runproto.ErrorTransient:
			return kind
		}
		return runproto.ErrorContext
	}
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		return runproto.ErrorTransient // the network, the socket, a timeout
	}
	if apiErr.Response != nil && apiErr.Response.Header.Get(ruleHeader) == "budget" {
		return runproto.ErrorBudget
	}
	msg := strings.ToLower(apiErr.RawJSON())
	switch code := apiErr.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return runproto.ErrorAuth
	case code == http.StatusRequestEntityTooLarge:
		return runproto.ErrorContext
	case code == http.StatusBadRequest && (strings.Contains(msg, "prompt is too long") || strings.Contains(msg, "context window") ||
		strings.Contains(msg, "too many tokens") || strings.Contains(msg, "context length")):
		return runproto.ErrorContext
	case code == http.StatusBadRequest || code == http.StatusNotFound || code == http.StatusUnprocessableEntity:
		return runproto.ErrorConfig
	}
	return runproto.ErrorTransient // 408, 409, 429, 5xx, 529
}
