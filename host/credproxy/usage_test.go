package credproxy

import (
	"strings"
	"testing"
)

func TestUsageMeter(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name  string
		mode  meterMode
		body  string
		want  Tokens
		found bool
	}{
		{"json", meterJSON, `{"id":"m","usage":{"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":3,"cache_read_input_tokens":4}}`,
			Tokens{Input: 10, Output: 20, CacheWrite: 3, CacheRead: 4}, true},
		{"json without usage", meterJSON, `{"input_tokens":99}`, Tokens{}, false},
		{"json error", meterJSON, `{"type":"error","error":{"type":"x","message":"\"usage\""}}`, Tokens{}, false},
		{"json broken", meterJSON, `{"usage":{"input_tokens":1`, Tokens{}, false},
		{"json negative clamped", meterJSON, `{"usage":{"input_tokens":-5,"output_tokens":7}}`, Tokens{Output: 7}, true},
		{"json non-integer", meterJSON, `{"usage":{"input_tokens":1e3}}`, Tokens{}, false},
		{"json huge clamped", meterJSON, `{"usage":{"input_tokens":9223372036854775807}}`, Tokens{Input: maxCount}, true},
		{"sse", meterSSE, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
			"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n", Tokens{Input: 5, Output: 9}, true},
		{"sse crlf and no space, no final newline", meterSSE, "data:{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":2}}}\r\n\r\n" +
			"data:{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3,\"input_tokens\":4}}", Tokens{Input: 4, Output: 3}, true},
		{"sse ignores usage in other events", meterSSE, "data: {\"type\":\"content_block_delta\",\"usage\":{\"output_tokens\":100}}\n", Tokens{}, false},
		{"sse skips an over-long line", meterSSE, "data: " + long + "\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n", Tokens{Output: 7}, true},
		{"none", meterNone, `{"usage":{"input_tokens":1}}`, Tokens{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newUsageMeter(tt.mode)
			m.Write([]byte(tt.body))
			got, found := m.Result()
			if got != tt.want || found != tt.found {
				t.Errorf("got %+v %v, want %+v %v", got, found, tt.want, tt.found)
			}
		})
	}
	if got := modeFor("text/event-stream; charset=utf-8"); got != meterSSE {
		t.Errorf("modeFor SSE = %v", got)
	}
	if got := modeFor("application/json"); got != meterJSON {
		t.Errorf("modeFor JSON = %v", got)
	}
	if got := modeFor("text/plain"); got != meterNone {
		t.Errorf("modeFor text = %v", got)
	}
}

// FuzzUsageMeter: the meter never panics, never reports a negative or oversized count, and
// gives the same result however the body is split into writes (the network decides that).
func FuzzUsageMeter(f *testing.F) {
	f.Add(true, "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n", uint16(17))
	f.Add(false, `{"usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":4}}`, uint16(3))
	f.Add(true, "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-9223372036854775808}}\r\n", uint16(1))
	f.Add(false, `{"usage":{"input_tokens":9223372036854775807,"output_tokens":9223372036854775807}}`, uint16(0))
	f.Fuzz(func(t *testing.T, sse bool, body string, split uint16) {
		mode := meterJSON
		if sse {
			mode = meterSSE
		}
		whole := newUsageMeter(mode)
		whole.Write([]byte(body))
		want, wantFound := whole.Result()

		parts := newUsageMeter(mode)
		step := int(split%64) + 1
		for b := []byte(body); len(b) > 0; {
			n := min(step, len(b))
			if k, err := parts.Write(b[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			b = b[n:]
		}
		got, found := parts.Result()
		if got != want || found != wantFound {
			t.Fatalf("split every %d: %+v %v, whole: %+v %v", step, got, found, want, wantFound)
		}
		for _, v := range []int64{got.Input, got.Output, got.CacheWrite, got.CacheRead} {
			if v < 0 || v > maxCount {
				t.Fatalf("count out of range: %+v", got)
			}
		}
		if total := got.Total(); total < 0 {
			t.Fatalf("total %d", total)
		}
	})
}
