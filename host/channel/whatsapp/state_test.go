package whatsapp

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// TestState: the channel's state through its connection's life, as `nanoclaw status` shows
// it.
func TestState(t *testing.T) {
	tests := []struct {
		name   string
		events []any
		stop   bool
		want   channel.State
	}{
		{"before the first connection", nil, false, channel.StateConnecting},
		{"connected", []any{&events.Connected{}}, false, channel.StateConnected},
		{"dropped: whatsmeow reconnects", []any{&events.Connected{}, &events.Disconnected{}}, false, channel.StateReconnecting},
		{"back again", []any{&events.Connected{}, &events.Disconnected{}, &events.Connected{}}, false, channel.StateConnected},
		{"logged out by the phone", []any{&events.Connected{}, &events.LoggedOut{}}, false, channel.StatePairingNeeded},
		{"replaced by another process", []any{&events.Connected{}, &events.StreamReplaced{}}, false, channel.StateDisconnected},
		{"stopped", []any{&events.Connected{}}, true, channel.StateDisconnected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := newSendChannel(t, Options{})
			for _, e := range tc.events {
				c.handleEvent(e)
			}
			if tc.stop {
				if err := c.Disconnect(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.State(); got != tc.want {
				t.Fatalf("State() = %q, want %q", got, tc.want)
			}
		})
	}
}
