package main

import (
	"errors"
	"net/http"
	"strings"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Server-side context management: the API clears old tool results and compacts the
// conversation itself, so a conversation never outgrows the model and the runner needs no
// model call of its own for it. An endpoint that refuses these betas gets the runner's own
// summarizing turn instead (summarize.go).
const (
	// minServerCompactAt is the lowest compaction trigger the API accepts (its docs:
	// "must be at least 50,000 tokens"); a lower NANOCLAW_COMPACT_AT is honoured by
	// clearing tool results earlier and, on an endpoint without the betas, by the runner.
	minServerCompactAt = 50_000
	// keepToolUses is how many recent tool uses keep their results when older ones are
	// cleared: the API's default, enough for the model to see what it just did.
	keepToolUses = 3
	// clearedToolResult replaces a tool result the API cleared, in the stored history.
	clearedToolResult = "[This tool result was cleared to save context. Run the tool again if you need it.]"
	// compactionInstructions replace the API's summarization prompt (its default, plus what
	// a chat assistant must not lose: the compacted range ends with the user's newest
	// message, which the model has not answered yet).
	compactionInstructions = "You have written a partial transcript for the initial task above. Please write a summary of the transcript. " +
		"The purpose of this summary is to provide continuity so you can continue to make progress towards solving the task in a future context, " +
		"where the raw history above may not be accessible and will be replaced with this summary. " +
		"Write down anything that would be helpful, including the state, next steps, learnings etc. " +
		"Keep names, dates, promises made to the people in the chat, and quote the most recent user message verbatim. " +
		"You must wrap your summary in a <summary></summary> block."
)

// contextBetas are the beta flags the two edits need: clear_tool_uses_20250919 is context
// editing's, compact_20260112 compaction's. A new slice each time: requests never share one.
func contextBetas() []anthropic.AnthropicBeta {
	return []anthropic.AnthropicBeta{anthropic.AnthropicBetaContextManagement2025_06_27, anthropic.AnthropicBetaCompact2026_01_12}
}

// contextEdits are the request's context_management edits for a compaction threshold of
// compactAt input tokens. Tool results are cleared first, from two thirds of it (clearing
// costs no model call; at least a tenth of the threshold at a time, so the prompt cache it
// invalidates is worth it); what remains is compacted at the threshold.
func contextEdits(compactAt int64) anthropic.BetaContextManagementConfigParam {
	return anthropic.BetaContextManagementConfigParam{Edits: []anthropic.BetaContextManagementConfigEditUnionParam{
		{OfClearToolUses20250919: &anthropic.BetaClearToolUses20250919EditParam{
			Trigger:      anthropic.BetaClearToolUses20250919EditTriggerUnionParam{OfInputTokens: &anthropic.BetaInputTokensTriggerParam{Value: compactAt * 2 / 3}},
			Keep:         anthropic.BetaToolUsesKeepParam{Value: keepToolUses},
			ClearAtLeast: anthropic.BetaInputTokensClearAtLeastParam{Value: compactAt / 10},
		}},
		{OfCompact20260112: &anthropic.BetaCompact20260112EditParam{
			Trigger:      anthropic.BetaInputTokensTriggerParam{Value: max(compactAt, minServerCompactAt)},
			Instructions: anthropic.String(compactionInstructions),
		}},
	}}
}

// refusesContextEdits tells whether err is an endpoint refusing the context-management
// betas or their parameters (a compatible endpoint that lacks them answers 400 naming
// the header, the field or the edit), as opposed to any other bad request.
func refusesContextEdits(err error) bool {
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || classify(err) == runproto.ErrorContext {
		return false
	}
	msg := strings.ToLower(apiErr.RawJSON())
	for _, s := range []string{"anthropic-beta", "beta header", "context_management", "context-management", "compact", "clear_tool_uses"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// clearedToolUses is how many tool uses the API says it cleared for response m.
func clearedToolUses(m *anthropic.BetaMessage) int64 {
	var n int64
	for _, e := range m.ContextManagement.AppliedEdits {
		if e.Type == "clear_tool_uses_20250919" {
			n += e.ClearedToolUses
		}
	}
	return n
}

// clearOldToolResults replaces the results of all but the last keep tool uses with a short
// note, as the API did for the request: the stored history then holds what the model saw,
// so it stops growing by every tool output ever produced (the API would clear them again on
// each request, but the request, the budget reservation and the session file would still
// carry them). msgs is not modified. It returns how many results it cleared.
func clearOldToolResults(msgs []anthropic.BetaMessageParam, keep int) ([]anthropic.BetaMessageParam, int) {
	type pos struct{ msg, block int }
	var results []pos
	for i, m := range msgs {
		for j, b := range m.Content {
			if b.OfToolResult != nil {
				results = append(results, pos{i, j})
			}
		}
	}
	if len(results) <= keep {
		return msgs, 0
	}
	out := append([]anthropic.BetaMessageParam(nil), msgs...)
	copied := map[int]bool{}
	n := 0
	for _, p := range results[:len(results)-keep] {
		old := out[p.msg].Content[p.block].OfToolResult
		if isClearedResult(old) {
			continue
		}
		if !copied[p.msg] {
			out[p.msg].Content = append([]anthropic.BetaContentBlockParamUnion(nil), out[p.msg].Content...)
			copied[p.msg] = true
		}
		res := *old
		res.Content = []anthropic.BetaToolResultBlockParamContentUnion{textBlock(clearedToolResult)}
		out[p.msg].Content[p.block] = anthropic.BetaContentBlockParamUnion{OfToolResult: &res}
		n++
	}
	return out, n
}

func isClearedResult(r *anthropic.BetaToolResultBlockParam) bool {
	return len(r.Content) == 1 && r.Content[0].OfText != nil && r.Content[0].OfText.Text == clearedToolResult
}

// afterLatestCompaction drops what precedes the latest compaction block that holds a
// summary. The API ignores it anyway ("all content blocks before it are ignored"; its docs
// allow dropping them), so keeping it would only make every request, the budget
// reservation and the session file grow forever. The history may then start with the
// assistant message that carries the block, as the API's own examples send it. A failed
// compaction (null content) replaces nothing and is kept as the API returned it.
func afterLatestCompaction(msgs []anthropic.BetaMessageParam) []anthropic.BetaMessageParam {
	for i := len(msgs) - 1; i >= 0; i-- {
		for j := len(msgs[i].Content) - 1; j >= 0; j-- {
			if c := msgs[i].Content[j].OfCompaction; c != nil && c.Content.Valid() && c.Content.Value != "" {
				if i == 0 && j == 0 {
					return msgs
				}
				first := msgs[i]
				first.Content = append([]anthropic.BetaContentBlockParamUnion(nil), first.Content[j:]...)
				return append([]anthropic.BetaMessageParam{first}, msgs[i+1:]...)
			}
		}
	}
	return msgs
}

// plainHistory rewrites a history for an endpoint without compaction: what the latest
// compaction replaced is dropped, its summary becomes text, failed compactions go, and a
// history that would start with the assistant gets a user message first, which such
// endpoints may require. msgs is not modified.
func plainHistory(msgs []anthropic.BetaMessageParam) []anthropic.BetaMessageParam {
	msgs = afterLatestCompaction(msgs)
	var out []anthropic.BetaMessageParam
	changed := false
	for _, m := range msgs {
		var blocks []anthropic.BetaContentBlockParamUnion
		for _, b := range m.Content {
			c := b.OfCompaction
			if c == nil {
				blocks = append(blocks, b)
				continue
			}
			changed = true
			if c.Content.Valid() && c.Content.Value != "" {
				blocks = append(blocks, anthropic.NewBetaTextBlock(summaryHeader+c.Content.Value))
			}
		}
		if len(blocks) == 0 {
			continue
		}
		m.Content = blocks
		out = append(out, m)
	}
	if !changed {
		return msgs
	}
	if len(out) > 0 && out[0].Role == anthropic.BetaMessageParamRoleAssistant {
		out = append([]anthropic.BetaMessageParam{anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock("(The conversation so far was summarized; the summary follows.)"))}, out...)
	}
	return out
}
