package main

import (
	"context"
	"errors"
	"strings"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// turn runs the tool loop for one user turn and returns the new history and the final text.
// It keeps the conversation within the model's context: with server-side context
// management (contextedits.go) the API clears and compacts, and the history follows what it
// did; where the endpoint refused that, the runner summarizes by itself when the next
// request would pass the threshold (summarize.go); and a request the API finds too long is
// summarized and sent again, once.
func (a *agent) turn(ctx context.Context, msgs []anthropic.BetaMessageParam) ([]anthropic.BetaMessageParam, string, error) {
	if !a.serverEdits {
		msgs = plainHistory(msgs)
	}
	msgs, err := a.fit(ctx, msgs, 1)
	if err != nil {
		return msgs, "", err
	}
	var last *anthropic.BetaMessage
	used, mended := 0, false
runners:
	for a.maxIter == 0 || used < a.maxIter {
		r := a.toolRunner(msgs, used)
		for {
			m, err := r.NextMessage(ctx)
			if err != nil {
				msgs, used = r.Messages(), used+r.IterationCount()
				// A request that can be mended is sent again by a new runner: the failed one
				// would run the last turn's tools a second time.
				if msgs, err = a.mend(ctx, msgs, err, &mended); err != nil {
					return msgs, "", err
				}
				continue runners
			}
			if m == nil {
				msgs = r.Messages()
				break runners
			}
			last, mended = m, false
			a.logResponse(m)
			if r.Params.Messages, err = a.afterResponse(ctx, m, r.Params.Messages); err != nil {
				return r.Messages(), "", err
			}
		}
	}
	if last == nil {
		return msgs, "", nil
	}
	if last.StopReason == anthropic.BetaStopReasonMaxTokens {
		a.logf("warning: turn ended at max_tokens")
	}
	var sb strings.Builder
	for _, b := range last.Content {
		if b.Type == "text" {
			sb.WriteString(b.Text)
		}
	}
	return msgs, sb.String(), nil
}

// toolRunner starts a tool runner on msgs, with the iterations the turn has left.
func (a *agent) toolRunner(msgs []anthropic.BetaMessageParam, used int) *anthropic.BetaToolRunner {
	params := anthropic.BetaMessageNewParams{
		Model:     a.model,
		MaxTokens: a.maxTokens,
		System:    a.system,
		Messages:  msgs,
		// Automatic prompt caching: the API marks the request's last block, so tools,
		// system prompt and the conversation so far are read from cache on the next
		// request (each adds only a few blocks, well within the cache's lookback).
		CacheControl: anthropic.NewBetaCacheControlEphemeralParam(),
	}
	if a.serverEdits {
		params.ContextManagement = contextEdits(a.compactAt)
		params.Betas = contextBetas()
	}
	iterations := 0
	if a.maxIter > 0 {
		iterations = a.maxIter - used
	}
	r := a.client.Beta.Messages.NewToolRunner(a.tools, anthropic.BetaToolRunnerParams{BetaMessageNewParams: params, MaxIterations: iterations})
	// Server tools run on the API side; the runner only needs them in the request. It built
	// Params.Tools from the client tools, so they are appended after construction.
	r.Params.Tools = append(r.Params.Tools, a.serverTools...)
	return r
}

func (a *agent) logResponse(m *anthropic.BetaMessage) {
	var calls []string
	for _, b := range m.Content {
		switch b.Type {
		case "tool_use", "server_tool_use":
			calls = append(calls, b.Name)
		}
	}
	a.logf("model: stop_reason=%s tools=%v input_tokens=%d", m.StopReason, calls, m.Usage.InputTokens+m.Usage.CacheReadInputTokens+m.Usage.CacheCreationInputTokens)
}

// afterResponse brings the history in line with what the API did for response m, or,
// without server-side context management, summarizes it when the request that will carry
// m's tool results would pass the threshold.
func (a *agent) afterResponse(ctx context.Context, m *anthropic.BetaMessage, msgs []anthropic.BetaMessageParam) ([]anthropic.BetaMessageParam, error) {
	a.gauge.observe(m.Usage)
	if a.serverEdits {
		for _, b := range m.Content {
			if b.Type == "compaction" && b.Content.OfString != "" {
				before := len(msgs)
				msgs = afterLatestCompaction(msgs)
				a.logf("the API compacted the conversation: %d earlier messages dropped", before-len(msgs))
				break
			}
		}
		if cleared := clearedToolUses(m); cleared > 0 {
			var n int
			msgs, n = clearOldToolResults(msgs, keepToolUses)
			a.logf("the API cleared %d old tool results; %d cleared in the history", cleared, n)
		}
		return msgs, nil
	}
	if m.StopReason == anthropic.BetaStopReasonToolUse {
		return a.fit(ctx, msgs, 0)
	}
	return msgs, nil
}

// fit summarizes msgs when, without server-side context management, the next request (msgs;
// the last added of them new since the last response) is estimated past the threshold.
func (a *agent) fit(ctx context.Context, msgs []anthropic.BetaMessageParam, added int) ([]anthropic.BetaMessageParam, error) {
	if a.serverEdits {
		return msgs, nil
	}
	est := a.gauge.estimate(a.overhead, msgs, added)
	if est < a.compactAt {
		return msgs, nil
	}
	a.logf("the next request is about %d input tokens, past NANOCLAW_COMPACT_AT=%d: summarizing the conversation", est, a.compactAt)
	out, err := a.summarize(ctx, msgs)
	if errors.Is(err, errNothingToSummarize) {
		a.logf("nothing older to summarize; sending it as it is")
		return msgs, nil
	}
	return out, err
}

// mend handles a failed request whose history msgs can be sent again changed: an endpoint
// refusing server-side context management (remembered for the rest of the run, so it is
// not asked again on every request), or a prompt too long for the model (summarized, once
// per request). Anything else is returned as it is.
func (a *agent) mend(ctx context.Context, msgs []anthropic.BetaMessageParam, err error, mended *bool) ([]anthropic.BetaMessageParam, error) {
	if n := len(msgs); n == 0 || msgs[n-1].Role != anthropic.BetaMessageParamRoleUser {
		return msgs, err // the failure came before a request was ready (a tool, the context)
	}
	switch {
	case a.serverEdits && refusesContextEdits(err):
		a.serverEdits = false
		a.gauge.forget() // its usage was counted after the API's edits
		a.logf("the model API refused server-side context management (%v); this run summarizes the conversation itself", err)
		return a.fit(ctx, plainHistory(msgs), 0)
	case refusesMedia(err) && hasMedia(msgs):
		// An image or PDF the API cannot read would fail this turn and, kept in the
		// session, every turn after it: the files go, the conversation goes on.
		a.logf("the model API refused an image or document (%v); removing them from the conversation", err)
		return dropMedia(msgs), nil
	case classify(err) == runproto.ErrorContext && !*mended:
		*mended = true
		a.logf("the model API found the conversation too long (%v); summarizing it", err)
		out, serr := a.summarize(ctx, msgs)
		if errors.Is(serr, errNothingToSummarize) {
			return msgs, err
		}
		return out, serr
	}
	return msgs, err
}
