package daemon

import (
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/config"
)

// TestRunRequestCarriesAgentSettings: the operator's settings for the agent runner reach it
// in the run request (a container's environment holds only TZ and HOME), and unset ones
// are left out so the runner's defaults apply.
func TestRunRequestCarriesAgentSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		model     string
		compactAt int64
	}{
		{"set", "claude-test", 80_000},
		{"unset", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{settings: func(s *config.Settings) { s.Model, s.CompactAt = tc.model, tc.compactAt }})
			h.register(mainGroup)
			h.start()
			h.message(msg(mainJID, "m1", "hello", 0))
			req := h.nextRun().request(t)
			if req.Model != tc.model || req.CompactAt != tc.compactAt {
				t.Errorf("request model %q compactAt %d, want %q %d", req.Model, req.CompactAt, tc.model, tc.compactAt)
			}
		})
	}
}
