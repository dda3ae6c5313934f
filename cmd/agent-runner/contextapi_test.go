package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
)

// contextAPI is a Messages API mock with a context window, in the style of cachingAPI: a
// request's context is its system prompt, tools and message blocks, counted as JSON
// bytes / 4, and one larger than the window is refused with the API's 400 "prompt is too
// long". Blocks before the latest compaction block are not counted, as the API ignores
// them. It has two modes:
//
//   - edits: it implements the server-side context edits in the order the request lists
//     them: clear_tool_uses_20250919 (past its trigger, every tool result but the last
//     keep is replaced by a placeholder, if that clears at least clear_at_least tokens;
//     reported in context_management.applied_edits) and compact_20260112 (past its trigger,
//     the response starts with a compaction block that replaces the whole context, and
//     usage.iterations reports the compaction). A compaction block sent back must be one
//     it issued, unchanged.
//   - otherwise it is a compatible endpoint without those betas: a request naming them in
//     anthropic-beta, carrying context_management or a compaction block is refused (400),
//     and the first message must be the user's.
//
// Either way tool calls and results must pair up as the API requires. The model answers a
// user message by running command with bash, a tool result with the text answer, and a
// request without tools (the runner's summarizing request) with a summary.
type contextAPI struct {
	limit   int
	edits   bool
	command string
	answer  string

	mu     sync.Mutex
	stats  contextStats
	issued map[string]string // compaction summary → its encrypted_content
}

// contextStats is what the mock saw.
type contextStats struct {
	requests    int // every request, refused or not
	refused     int // refused for naming the betas or context_management
	tooLong     int // refused for a context over the window
	invalid     int // refused as malformed (pairing, roles, altered compaction)
	summaries   int // summarizing requests (no tools) answered
	compactions int // compaction blocks issued
	clears      int // clear_tool_uses edits applied
	maxTokens   int // largest context, after edits, of a request answered or refused as too long
	maxSent     int // largest request as sent (body bytes / 4)
}

func newContextAPI(limit int, edits bool) *contextAPI {
	return &contextAPI{limit: limit, edits: edits, issued: map[string]string{},
		command: "head -c 8000 /dev/zero | tr '\\0' x",
		answer:  "Here is what changed since last time: " + strings.Repeat("the service restarted twice and the error rate went down; ", 20)}
}

func (c *contextAPI) snapshot() contextStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// ctxBlock is one content block of a request, with what the mock needs of it. Requests
// are read with gjson: encoding/json validates and rescans every nested value, which made
// the mock most of a long conversation's run time.
type ctxBlock struct {
	raw       string
	msg       int
	Type      string
	ID        string       // tool_use
	ToolUseID string       // tool_result
	Content   gjson.Result // compaction
	Encrypted gjson.Result // compaction
}

func parseBlock(v gjson.Result, msg int) *ctxBlock {
	b := &ctxBlock{raw: v.Raw, msg: msg}
	v.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "type":
			b.Type = val.Str
		case "id":
			b.ID = val.Str
		case "tool_use_id":
			b.ToolUseID = val.Str
		case "content":
			b.Content = val
		case "encrypted_content":
			b.Encrypted = val
		}
		return true
	})
	return b
}

// ctxMessage is one message of a request.
type ctxMessage struct {
	role   string
	blocks []*ctxBlock
}

const clearedByMock = `[cleared]`

func apiError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": msg}})
	w.Write(b)
}

func (c *contextAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	if !gjson.ValidBytes(raw) {
		apiError(w, 400, "invalid_request_error", "the body is not JSON")
		return
	}
	root := gjson.ParseBytes(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.stats.requests
	c.stats.requests++
	c.stats.maxSent = max(c.stats.maxSent, len(raw)/4)

	edits := root.Get("context_management")
	betas := strings.Join(r.Header.Values("Anthropic-Beta"), ",")
	if !c.edits {
		switch {
		case betas != "":
			c.stats.refused++
			apiError(w, 400, "invalid_request_error", "Unexpected value(s) `"+strings.ReplaceAll(betas, ",", "`, `")+"` for the `anthropic-beta` header. Please consult our documentation or try again without the header.")
			return
		case edits.Exists():
			c.stats.refused++
			apiError(w, 400, "invalid_request_error", "context_management: Extra inputs are not permitted")
			return
		}
	}

	// The messages and their blocks, in order.
	var msgs []ctxMessage
	var blocks []*ctxBlock
	root.Get("messages").ForEach(func(_, m gjson.Result) bool {
		i := len(msgs)
		msg := ctxMessage{}
		m.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "role":
				msg.role = v.Str
			case "content":
				if v.Type == gjson.String {
					b, _ := json.Marshal(map[string]any{"type": "text", "text": v.Str})
					msg.blocks = append(msg.blocks, &ctxBlock{raw: string(b), msg: i, Type: "text"})
					break
				}
				v.ForEach(func(_, bv gjson.Result) bool {
					msg.blocks = append(msg.blocks, parseBlock(bv, i))
					return true
				})
			}
			return true
		})
		msgs = append(msgs, msg)
		blocks = append(blocks, msg.blocks...)
		return true
	})
	if msg := c.validate(msgs); msg != "" {
		c.stats.invalid++
		apiError(w, 400, "invalid_request_error", msg)
		return
	}
	tools := root.Get("tools").Array()

	// The context: from the latest compaction block with a summary on.
	from := 0
	for i, b := range blocks {
		if b.Type == "compaction" && b.Content.Type == gjson.String {
			from = i
		}
	}
	window := blocks[from:]
	fixed := len(root.Get("system").Raw)
	for _, t := range tools {
		fixed += len(t.Raw)
	}
	tokens := func() int {
		n := fixed
		for _, b := range window {
			n += len(b.raw)
		}
		return n / 4
	}

	var applied []any
	var compaction json.RawMessage
	var iterations []any
	if c.edits {
		for _, e := range edits.Get("edits").Array() {
			switch e.Get("type").Str {
			case "clear_tool_uses_20250919":
				if tokens() <= intOr(e.Get("trigger.value"), 100_000) {
					continue
				}
				keep, atLeast := intOr(e.Get("keep.value"), 3), intOr(e.Get("clear_at_least.value"), 0)
				var results []int
				for i, b := range window {
					if b.Type == "tool_result" {
						results = append(results, i)
					}
				}
				if len(results) <= keep {
					continue
				}
				replaced := map[int]*ctxBlock{}
				cleared := 0
				for _, i := range results[:len(results)-keep] {
					b := *window[i]
					placeholder, _ := json.Marshal(map[string]any{"type": "tool_result", "tool_use_id": b.ToolUseID, "content": clearedByMock})
					b.raw = string(placeholder)
					if len(b.raw) < len(window[i].raw) {
						replaced[i] = &b
						cleared += (len(window[i].raw) - len(b.raw)) / 4
					}
				}
				if len(replaced) == 0 || cleared < atLeast {
					continue
				}
				window = append([]*ctxBlock(nil), window...)
				for i, b := range replaced {
					window[i] = b
				}
				c.stats.clears++
				applied = append(applied, map[string]any{"type": "clear_tool_uses_20250919", "cleared_tool_uses": len(replaced), "cleared_input_tokens": cleared})
			case "compact_20260112":
				before := tokens()
				if before <= intOr(e.Get("trigger.value"), 150_000) {
					continue
				}
				c.stats.compactions++
				summary := fmt.Sprintf("<summary>Compaction %d: %d blocks summarized; the user keeps asking what changed in the logs.</summary>", c.stats.compactions, len(window))
				encrypted := fmt.Sprintf("opaque-state-%d", c.stats.compactions)
				c.issued[summary] = encrypted
				compaction, _ = json.Marshal(map[string]any{"type": "compaction", "content": summary, "encrypted_content": encrypted})
				window = []*ctxBlock{{raw: string(compaction), Type: "compaction"}}
				iterations = append(iterations, map[string]any{"type": "compaction", "input_tokens": before, "output_tokens": len(summary) / 4})
			}
		}
	}
	ctxTokens := tokens()
	c.stats.maxTokens = max(c.stats.maxTokens, ctxTokens)
	if ctxTokens > c.limit {
		c.stats.tooLong++
		apiError(w, 400, "invalid_request_error", fmt.Sprintf("prompt is too long: %d tokens > %d maximum", ctxTokens, c.limit))
		return
	}

	// The model.
	var content []json.RawMessage
	if compaction != nil {
		content = append(content, compaction)
	}
	stop := "end_turn"
	last := msgs[len(msgs)-1]
	switch {
	case len(tools) == 0:
		c.stats.summaries++
		b, _ := json.Marshal(map[string]any{"type": "text", "text": fmt.Sprintf("<summary>Summary %d of a %d-byte transcript: the user keeps asking what changed in the logs.</summary>", c.stats.summaries, len(raw))})
		content = append(content, b)
	case hasBlock(last.blocks, "tool_result"):
		b, _ := json.Marshal(map[string]any{"type": "text", "text": c.answer})
		content = append(content, b)
	default:
		stop = "tool_use"
		b, _ := json.Marshal(map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_%d", n), "name": "bash", "input": map[string]any{"command": c.command}})
		content = append(content, b)
	}
	out := 0
	for _, b := range content {
		out += len(b) / 4
	}
	usage := map[string]any{"input_tokens": ctxTokens, "output_tokens": out, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
	if iterations != nil {
		usage["iterations"] = append(iterations, map[string]any{"type": "message", "input_tokens": ctxTokens, "output_tokens": out})
	}
	resp := map[string]any{"id": fmt.Sprint("msg_", n), "type": "message", "role": "assistant", "model": "claude-test",
		"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": usage}
	if c.edits && edits.Exists() {
		resp["context_management"] = map[string]any{"applied_edits": append([]any{}, applied...)}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// validate returns the API's complaint about a malformed request, or "".
func (c *contextAPI) validate(msgs []ctxMessage) string {
	if len(msgs) == 0 {
		return "messages: at least one message is required"
	}
	if first := msgs[0]; first.role != "user" && (!c.edits || len(first.blocks) == 0 || first.blocks[0].Type != "compaction") {
		return "messages.0.role: the first message must use the \"user\" role"
	}
	for i, m := range msgs {
		for j, b := range m.blocks {
			switch b.Type {
			case "compaction":
				if !c.edits {
					return fmt.Sprintf("messages.%d.content.%d: Input tag 'compaction' found using 'type' does not match any of the expected tags", i, j)
				}
				if b.Content.Type == gjson.String && (c.issued[b.Content.Str] == "" || b.Encrypted.Str != c.issued[b.Content.Str]) {
					return fmt.Sprintf("messages.%d.content.%d: the compaction block was not sent back as the API returned it", i, j)
				}
			case "tool_use":
				if i == len(msgs)-1 || !hasToolResult(msgs[i+1].blocks, b.ID) {
					return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i, b.ID)
				}
			case "tool_result":
				if i == 0 || !hasToolUse(msgs[i-1].blocks, b.ToolUseID) {
					return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
				}
			}
		}
	}
	return ""
}

func hasToolResult(bs []*ctxBlock, id string) bool {
	for _, b := range bs {
		if b.Type == "tool_result" && b.ToolUseID == id {
			return true
		}
	}
	return false
}

func hasToolUse(bs []*ctxBlock, id string) bool {
	for _, b := range bs {
		if b.Type == "tool_use" && b.ID == id {
			return true
		}
	}
	return false
}

func hasBlock(bs []*ctxBlock, typ string) bool {
	for _, b := range bs {
		if b.Type == typ {
			return true
		}
	}
	return false
}

// intOr is v as an int, or def if it is absent.
func intOr(v gjson.Result, def int) int {
	if !v.Exists() {
		return def
	}
	return int(v.Int())
}
