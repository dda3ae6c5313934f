package credproxy

import (
	"bytes"
	"encoding/json"
	"mime"
)

// Tokens are token counts as the API reports them in a response's "usage" object.
type Tokens struct {
	Input      int64 `json:"inputTokens"`      // usage.input_tokens: input not read from or written to the cache
	Output     int64 `json:"outputTokens"`     // usage.output_tokens (thinking included)
	CacheRead  int64 `json:"cacheReadTokens"`  // usage.cache_read_input_tokens
	CacheWrite int64 `json:"cacheWriteTokens"` // usage.cache_creation_input_tokens
}

// Total is every token the response reported; it is what a budget counts.
func (t Tokens) Total() int64 {
	return satAdd(satAdd(t.Input, t.Output), satAdd(t.CacheWrite, t.CacheRead))
}

// add is t + u, field by field, saturating.
func (t Tokens) add(u Tokens) Tokens {
	return Tokens{Input: satAdd(t.Input, u.Input), Output: satAdd(t.Output, u.Output),
		CacheRead: satAdd(t.CacheRead, u.CacheRead), CacheWrite: satAdd(t.CacheWrite, u.CacheWrite)}
}

// maxCount bounds one reported count, so a hostile or broken upstream cannot overflow the
// per-group sums (2^40 tokens is far beyond any real response).
const maxCount = 1 << 40

func satAdd(a, b int64) int64 {
	if s := a + b; s >= a { // both operands are non-negative here
		return s
	}
	return 1<<63 - 1
}

// meterMode is how a response body carries its usage.
type meterMode int

const (
	meterNone meterMode = iota // no usage expected (or an unknown content type)
	meterSSE                   // text/event-stream: message_start and message_delta events
	meterJSON                  // application/json: a top-level "usage" object
)

// Limits of the usage meter. An SSE line longer than maxLine is skipped (the events that
// carry usage are small; long lines are text deltas). A JSON body longer than maxJSON is not
// parsed, and its usage is lost (logged as such).
const (
	maxLine = 64 << 10
	maxJSON = 8 << 20
)

// modeFor picks the meter mode from a response's Content-Type.
func modeFor(contentType string) meterMode {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return meterNone
	}
	switch mt {
	case "text/event-stream":
		return meterSSE
	case "application/json":
		return meterJSON
	}
	return meterNone
}

// usageMeter is an io.Writer the response body is teed through on its way to the container.
// For SSE it keeps only the current line (bounded), so a stream of any length flows through
// in constant memory; for JSON it keeps the body up to maxJSON and parses it at the end.
// It never fails a write: metering must not break the response.
type usageMeter struct {
	mode     meterMode
	line     []byte // SSE: the current, unterminated line
	skipping bool   // SSE: the current line passed maxLine; drop it up to its newline
	body     []byte // JSON: the body so far
	overflow bool   // JSON: the body passed maxJSON
	tokens   Tokens
	seen     bool // some usage was found
}

func newUsageMeter(mode meterMode) *usageMeter { return &usageMeter{mode: mode} }

func (m *usageMeter) Write(p []byte) (int, error) {
	n := len(p)
	switch m.mode {
	case meterSSE:
		for len(p) > 0 {
			i := bytes.IndexByte(p, '\n')
			chunk := p
			if i >= 0 {
				chunk = p[:i]
			}
			if !m.skipping {
				if len(m.line)+len(chunk) > maxLine {
					m.skipping, m.line = true, m.line[:0]
				} else {
					m.line = append(m.line, chunk...)
				}
			}
			if i < 0 {
				break
			}
			if !m.skipping {
				m.sseLine(m.line)
			}
			m.line, m.skipping = m.line[:0], false
			p = p[i+1:]
		}
	case meterJSON:
		if !m.overflow {
			if len(m.body)+len(p) > maxJSON {
				m.overflow, m.body = true, nil
			} else {
				m.body = append(m.body, p...)
			}
		}
	}
	return n, nil
}

// wireUsage is the usage object as the API sends it; absent fields stay nil.
type wireUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// apply sets the fields u carries. Streaming counts are cumulative (message_delta repeats the
// running output total), so the latest value wins rather than adding up.
func (m *usageMeter) apply(u *wireUsage) {
	if u == nil {
		return
	}
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = min(max(*v, 0), maxCount)
			m.seen = true
		}
	}
	set(&m.tokens.Input, u.InputTokens)
	set(&m.tokens.Output, u.OutputTokens)
	set(&m.tokens.CacheWrite, u.CacheCreationInputTokens)
	set(&m.tokens.CacheRead, u.CacheReadInputTokens)
}

func (m *usageMeter) sseLine(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	data, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok || !bytes.Contains(data, []byte(`"usage"`)) {
		return // cheap filter: most lines are text deltas
	}
	var ev struct {
		Type    string `json:"type"`
		Message *struct {
			Usage *wireUsage `json:"usage"`
		} `json:"message"`
		Usage *wireUsage `json:"usage"`
	}
	if json.Unmarshal(bytes.TrimLeft(data, " "), &ev) != nil {
		return
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			m.apply(ev.Message.Usage)
		}
	case "message_delta":
		m.apply(ev.Usage)
	}
}

// Result is the usage the body reported, and whether it reported any. Call it once the body
// has ended; an SSE stream's last line need not end in a newline.
func (m *usageMeter) Result() (Tokens, bool) {
	switch m.mode {
	case meterSSE:
		if len(m.line) > 0 && !m.skipping {
			m.sseLine(m.line)
			m.line = m.line[:0]
		}
	case meterJSON:
		if !m.overflow && len(m.body) > 0 {
			var v struct {
				Usage *wireUsage `json:"usage"`
			}
			if json.Unmarshal(m.body, &v) == nil {
				m.apply(v.Usage)
			}
			m.body = nil
		}
	}
	return m.tokens, m.seen
}
