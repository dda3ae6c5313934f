package main

import (
	"encoding/json"

	anthropic "github.com/anthropics/anthropic-sdk-go"
)

// contextGauge estimates how many input tokens the next request takes, so the runner can
// summarize before an endpoint without server-side compaction refuses the request. The
// last response's reported usage is exact for everything up to and including that
// response; only what was appended since is estimated. With no usage known (a new run, or
// just after the history was rewritten) the whole request is estimated.
type contextGauge struct {
	tokens int64 // the last request's input tokens plus its response's output tokens
	known  bool
}

// observe takes the usage of a response: its prompt (cached or not) and its output are
// what the next request repeats.
func (g *contextGauge) observe(u anthropic.BetaUsage) {
	g.tokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens + u.OutputTokens
	g.known = true
}

// forget is called when the history is rewritten: the last usage no longer describes it.
func (g *contextGauge) forget() { g.known = false }

// estimate is the next request's size in input tokens: messages msgs, of which the last
// added were appended since the last response; overhead is the request's tools and
// system prompt.
func (g *contextGauge) estimate(overhead int64, msgs []anthropic.BetaMessageParam, added int) int64 {
	if g.known {
		return g.tokens + messagesTokens(msgs[len(msgs)-min(added, len(msgs)):])
	}
	return overhead + messagesTokens(msgs)
}

// bytesPerToken is the estimate everywhere a count is not reported: one token per four
// bytes of JSON, as the credential proxy reserves budget (English text runs about four
// characters a token; JSON and code somewhat fewer, so this errs towards summarizing early).
const bytesPerToken = 4

func messagesTokens(msgs []anthropic.BetaMessageParam) int64 {
	var n int64
	for _, m := range msgs {
		n += messageTokens(m)
	}
	return n
}

func messageTokens(m anthropic.BetaMessageParam) int64 {
	b, _ := json.Marshal(m)
	n := int64(len(b)) / bytesPerToken
	// An image costs the model about (width × height) / 750 tokens, at most imageTokens
	// once scaled (imagefit), whatever its base64 weighs in the JSON.
	for _, c := range m.Content {
		if img := c.OfImage; img != nil && img.Source.OfBase64 != nil {
			n += imageTokens - int64(len(img.Source.OfBase64.Data))/bytesPerToken
		}
	}
	return max(n, 0)
}

// imageTokens is the most an image block costs (imagefit's 1.15 megapixels / 750).
const imageTokens = 1600

// requestOverhead is the estimated size of what every request carries besides its
// messages: the tool definitions (as the tool runner sends them) and the system prompt.
func requestOverhead(tools []anthropic.BetaTool, serverTools []anthropic.BetaToolUnionParam, system []anthropic.BetaTextBlockParam) int64 {
	defs := append([]anthropic.BetaToolUnionParam(nil), serverTools...)
	for _, t := range tools {
		defs = append(defs, anthropic.BetaToolUnionParam{OfTool: &anthropic.BetaToolParam{
			Name: t.Name(), Description: anthropic.String(t.Description()), InputSchema: t.InputSchema(),
		}})
	}
	a, _ := json.Marshal(defs)
	b, _ := json.Marshal(system)
	return int64(len(a)+len(b)) / bytesPerToken
}
