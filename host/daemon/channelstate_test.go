package daemon

import (
	"context"
	"errors"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// stateChannel reports a state of its own; failing makes its Connect fail.
type stateChannel struct {
	fakeChannel
	name    string
	state   channel.State
	failing bool
}

func (c *stateChannel) Name() string         { return c.name }
func (c *stateChannel) OwnsJID(string) bool  { return false }
func (c *stateChannel) State() channel.State { return c.state }
func (c *stateChannel) Connect(context.Context) error {
	if c.failing {
		return errors.New("no route to the network")
	}
	return nil
}

// TestStatusChannelStates: status lists every channel with its state: one that cannot say
// is connected, a StateReporter says its own, and one whose Connect failed is listed as not
// connected with the error.
func TestStatusChannelStates(t *testing.T) {
	h := newHarness(t, options{})
	h.d.cfg.Channels = append(h.d.cfg.Channels,
		func(channel.Options) (channel.Channel, error) {
			return &stateChannel{name: "flaky", state: channel.StateReconnecting}, nil
		},
		func(channel.Options) (channel.Channel, error) {
			return &stateChannel{name: "broken", failing: true}, nil
		},
	)
	h.start()
	got := map[string]ChannelStatus{}
	for _, c := range h.d.Status(h.ctx).Channels {
		got[c.Name] = c
	}
	want := map[string]channel.State{"test": channel.StateConnected, "flaky": channel.StateReconnecting, "broken": channel.StateNotConnected}
	if len(got) != len(want) {
		t.Fatalf("channels %+v", got)
	}
	for name, state := range want {
		if got[name].State != state {
			t.Errorf("%s: state %q, want %q", name, got[name].State, state)
		}
	}
	if got["broken"].Detail != "no route to the network" {
		t.Errorf("broken's detail %q", got["broken"].Detail)
	}
}
