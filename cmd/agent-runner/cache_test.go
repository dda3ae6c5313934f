package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// cachingAPI is a Messages API mock with the API's prompt-cache accounting: a request's
// blocks (tools, system, message content, in that order) form a prefix; each cache
// breakpoint (a block's cache_control, or the top-level cache_control marking the last
// block) writes the prefix up to it into a cache that lives five minutes from its last
// use; a request reads the longest cached prefix found at or up to 20 blocks before a
// breakpoint. Tokens are counted as a block's JSON length / 4. Usage comes back in the
// API's fields.
type cachingAPI struct {
	mu    sync.Mutex
	now   func() time.Time
	cache map[[32]byte]time.Time // prefix hash → expiry
	usage []cacheUsage
	reply func(n int) string
}

type cacheUsage struct{ input, read, write, output int }

// readShare is the part of a request's input served from the cache.
func (u cacheUsage) readShare() float64 {
	return float64(u.read) / float64(u.input+u.read+u.write)
}

func newCachingAPI(reply func(n int) string) *cachingAPI {
	return &cachingAPI{now: time.Now, cache: map[[32]byte]time.Time{}, reply: reply}
}

func (c *cachingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		Tools        []map[string]any `json:"tools"`
		System       []map[string]any `json:"system"`
		CacheControl map[string]any   `json:"cache_control"`
		Messages     []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var blocks []map[string]any
	blocks = append(blocks, body.Tools...)
	blocks = append(blocks, body.System...)
	for _, m := range body.Messages {
		var content []map[string]any
		if json.Unmarshal(m.Content, &content) != nil {
			var text string
			_ = json.Unmarshal(m.Content, &text)
			content = []map[string]any{{"type": "text", "text": text}}
		}
		for _, b := range content {
			b["_role"] = m.Role
			blocks = append(blocks, b)
		}
	}
	tokens := make([]int, len(blocks))
	hashes := make([][32]byte, len(blocks))
	var breakpoints []int
	var prev [32]byte
	for i, b := range blocks {
		if _, ok := b["cache_control"]; ok {
			breakpoints = append(breakpoints, i)
			delete(b, "cache_control")
		}
		canon, _ := json.Marshal(b) // map keys are sorted: a canonical form
		tokens[i] = len(canon)/4 + 1
		hashes[i] = sha256.Sum256(append(prev[:], canon...))
		prev = hashes[i]
	}
	if body.CacheControl != nil && len(blocks) > 0 {
		breakpoints = append(breakpoints, len(blocks)-1)
	}
	sort.Ints(breakpoints)

	c.mu.Lock()
	now := c.now()
	cached := -1
	for _, bp := range breakpoints {
		for j := bp; j >= 0 && j >= bp-20; j-- {
			if exp, ok := c.cache[hashes[j]]; ok && now.Before(exp) {
				cached = max(cached, j)
				break
			}
		}
	}
	last := -1
	if len(breakpoints) > 0 {
		last = breakpoints[len(breakpoints)-1]
	}
	var u cacheUsage
	for i, n := range tokens {
		switch {
		case i <= cached:
			u.read += n
		case i <= last:
			u.write += n
		default:
			u.input += n
		}
	}
	if cached >= 0 {
		c.cache[hashes[cached]] = now.Add(5 * time.Minute)
	}
	for _, bp := range breakpoints {
		c.cache[hashes[bp]] = now.Add(5 * time.Minute)
	}
	n := len(c.usage)
	text := c.reply(n)
	u.output = len(text)/4 + 1
	c.usage = append(c.usage, u)
	c.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprint("msg_", n), "type": "message", "role": "assistant", "model": "claude-test",
		"content": []any{map[string]any{"type": "text", "text": text}}, "stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": u.input, "cache_read_input_tokens": u.read, "cache_creation_input_tokens": u.write, "output_tokens": u.output}})
}

// converse runs a conversation of turns through the real runner and the caching mock: the
// prompt, then each follow-up pushed after the previous answer. It returns each request's
// usage.
func converse(t testing.TB, turns int) []cacheUsage {
	api := newCachingAPI(func(n int) string {
		return fmt.Sprintf("Answer %d: here is what I found, with a few sentences of explanation so the reply is a realistic length for a chat.", n)
	})
	h2 := newHarness(t, api)
	req := baseRequest()
	req.Prompt = "<messages><message sender=\"Alice\" time=\"Jan 1, 2026, 10:00 AM\">Let's plan the week: what do I have on Monday?</message></messages>"
	h2.start(req)
	h2.next()
	for i := 1; i < turns; i++ {
		h2.run.Push(fmt.Sprintf("<messages><message sender=\"Alice\" time=\"Jan 1, 2026, 10:%02d AM\">Follow-up question number %d about the plan, with some detail.</message></messages>", i, i))
		h2.next()
	}
	h2.dropClose()
	h2.exitCode()
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]cacheUsage(nil), api.usage...)
}

// TestPromptCaching: over a 30-turn conversation, from turn 5 on at least 80% of every
// request's input tokens are read from the cache.
func TestPromptCaching(t *testing.T) {
	usage := converse(t, 30)
	if len(usage) != 30 {
		t.Fatalf("%d requests, want 30", len(usage))
	}
	for i, u := range usage[4:] {
		if share := u.readShare(); share < 0.8 {
			t.Errorf("turn %d: %.0f%% of input read from cache (%+v), want at least 80%%", i+5, 100*share, u)
		}
	}
	if usage[0].write == 0 {
		t.Errorf("the first request wrote nothing to the cache: %+v", usage[0])
	}
}

// BenchmarkPromptCaching reports the share of input tokens read from the cache over a
// 30-turn conversation, from turn 5 on (target ≥ 0.8) and overall.
func BenchmarkPromptCaching(b *testing.B) {
	var from5, all float64
	for b.Loop() {
		usage := converse(b, 30)
		var read, total, read5, total5 int
		for i, u := range usage {
			read, total = read+u.read, total+u.input+u.read+u.write
			if i >= 4 {
				read5, total5 = read5+u.read, total5+u.input+u.read+u.write
			}
		}
		from5, all = float64(read5)/float64(total5), float64(read)/float64(total)
	}
	b.ReportMetric(from5, "cache-read-share-from-turn5")
	b.ReportMetric(all, "cache-read-share")
}
