package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	anthropic "github.com/anthropics/anthropic-sdk-go"
)

// The runner's own compaction, for endpoints that refuse the API's (contextedits.go) and for
// a request the API answers "prompt is too long": the model is asked, in a plain Messages
// request with no beta features, to summarize the older part of the conversation, which is
// then replaced by that summary; the most recent messages stay as they were.
const (
	// summaryHeader starts the user message that holds a summary in the history.
	summaryHeader = "[Summary of the earlier conversation, written when it grew too long]\n"
	// summaryMaxTokens bounds the summary: it must stay a small part of the threshold.
	summaryMaxTokens = 4096
	// transcriptCut is where a tool's input or output is cut in the transcript given to the
	// summarizer: the gist is enough for a summary, and the summarizing request must fit.
	transcriptCut = 2000
	// keepShare is the part of NANOCLAW_COMPACT_AT the verbatim tail may take, at most
	// (it always holds the last assistant message).
	keepShare = 4

	summarizerSystem = "You summarize conversations so that they can go on without their full history."
	summaryRequest   = "Below is the transcript of a conversation between a chat group (the user) and you, the assistant. " +
		"It has grown too long to keep, so it will be replaced by your summary. Write a summary that lets you carry on without the transcript: " +
		"what was asked and decided, facts, names, dates and promises made, the state of any work and the files involved, " +
		"and what is still open. Quote the most recent user message verbatim. Write only the summary.\n\n<transcript>\n"
)

// errNothingToSummarize: the history has no older part to replace (one turn, or a summary
// and the messages it must keep).
var errNothingToSummarize = errors.New("nothing older to summarize")

// summaryError is a summarizing request that failed: the conversation could not be made
// to fit, which classify reports as a context failure.
type summaryError struct{ err error }

func (e *summaryError) Error() string { return "summarizing the conversation: " + e.err.Error() }
func (e *summaryError) Unwrap() error { return e.err }

// summarize replaces the older part of msgs by a summary the model writes, keeping the
// most recent messages verbatim. msgs is not modified.
func (a *agent) summarize(ctx context.Context, msgs []anthropic.BetaMessageParam) ([]anthropic.BetaMessageParam, error) {
	cut := summaryCut(msgs, a.compactAt/keepShare)
	if cut < 1 {
		return msgs, errNothingToSummarize
	}
	resp, err := a.client.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     a.model,
		MaxTokens: min(a.maxTokens, summaryMaxTokens),
		System:    []anthropic.TextBlockParam{{Text: summarizerSystem}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(summaryRequest + transcript(msgs[:cut]) + "</transcript>"))},
	})
	if err != nil {
		return msgs, &summaryError{err}
	}
	var sb strings.Builder
	for _, b := range resp.Content {
		if b.Type == "text" {
			sb.WriteString(b.Text)
		}
	}
	summary := strings.TrimSpace(sb.String())
	if summary == "" {
		return msgs, &summaryError{fmt.Errorf("the model wrote no summary (stop reason %s)", resp.StopReason)}
	}
	a.gauge.forget()
	a.logf("summarized %d older messages into %d characters; %d recent messages kept verbatim", cut, len(summary), len(msgs)-cut)
	summaryMsg := anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock(summaryHeader + summary))
	return append([]anthropic.BetaMessageParam{summaryMsg}, msgs[cut:]...), nil
}

// summaryCut is the index of the first message kept verbatim: an assistant message, so no
// tool call is separated from its result (a result always follows its call) and the
// summary, a user message, is followed by the assistant. It is the earliest such message
// whose tail fits in keepTokens, or the last assistant message if none does; -1 if there
// is nothing before it to summarize but an earlier summary.
func summaryCut(msgs []anthropic.BetaMessageParam, keepTokens int64) int {
	cut := -1
	var size int64
	for i := len(msgs) - 1; i >= 1; i-- {
		size += messageTokens(msgs[i])
		if msgs[i].Role != anthropic.BetaMessageParamRoleAssistant {
			continue
		}
		if cut >= 0 && size > keepTokens {
			break
		}
		cut = i
	}
	if cut == 1 && isSummary(msgs[0]) {
		return -1
	}
	return cut
}

func isSummary(m anthropic.BetaMessageParam) bool {
	return m.Role == anthropic.BetaMessageParamRoleUser && len(m.Content) == 1 && m.Content[0].OfText != nil &&
		strings.HasPrefix(m.Content[0].OfText.Text, summaryHeader)
}

// transcript renders messages as plain text for the summarizer: a plain request needs no
// tool definitions and cannot trip over tool-call pairing, and long tool inputs and
// outputs are cut.
func transcript(msgs []anthropic.BetaMessageParam) string {
	names := map[string]string{}
	var sb strings.Builder
	for _, m := range msgs {
		who := "User"
		if m.Role == anthropic.BetaMessageParamRoleAssistant {
			who = "Assistant"
		}
		for _, b := range m.Content {
			switch {
			case b.OfText != nil:
				fmt.Fprintf(&sb, "%s: %s\n\n", who, b.OfText.Text)
			case b.OfToolUse != nil:
				names[b.OfToolUse.ID] = b.OfToolUse.Name
				input, _ := json.Marshal(b.OfToolUse.Input)
				fmt.Fprintf(&sb, "Assistant used the tool %s: %s\n\n", b.OfToolUse.Name, cutText(string(input), transcriptCut))
			case b.OfToolResult != nil:
				r := b.OfToolResult
				what := "result"
				if r.IsError.Value {
					what = "error"
				}
				fmt.Fprintf(&sb, "Tool %s %s: %s\n\n", names[r.ToolUseID], what, cutText(toolResultText(r), transcriptCut))
			case b.OfCompaction != nil:
				if c := b.OfCompaction.Content; c.Valid() && c.Value != "" {
					fmt.Fprintf(&sb, "Summary of what came before: %s\n\n", c.Value)
				}
			default:
				if t := b.GetType(); t != nil {
					fmt.Fprintf(&sb, "[%s: a %s block]\n\n", who, *t)
				}
			}
		}
	}
	return sb.String()
}

func toolResultText(r *anthropic.BetaToolResultBlockParam) string {
	var sb strings.Builder
	for _, c := range r.Content {
		if c.OfText != nil {
			sb.WriteString(c.OfText.Text)
		} else if t := c.GetType(); t != nil {
			fmt.Fprintf(&sb, "[%s]", *t)
		}
	}
	return sb.String()
}

// cutText keeps the first n bytes of s (on a character boundary) and says how much is left out.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… [%d more bytes]", s[:n], len(s)-n)
}
