package daemon

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// lateChannel is a network that becomes available while the host runs (WhatsApp paired
// after the host started): it owns "late:" chats and can stop for good.
type lateChannel struct {
	*fakeChannel
	fatal        chan error
	disconnected atomic.Int32
}

func (c *lateChannel) Name() string                     { return "late" }
func (c *lateChannel) OwnsJID(jid string) bool          { return strings.HasPrefix(jid, "late:") }
func (c *lateChannel) Fatal() <-chan error              { return c.fatal }
func (c *lateChannel) Disconnect(context.Context) error { c.disconnected.Add(1); return nil }

// A channel connected while the host runs takes over its chats at once: messages that
// waited for it are answered through it, a second connect replaces it (the first is
// disconnected before the second connects), its fatal error stops the host, and a factory
// with nothing to connect is reported as not configured.
func TestConnectChannelWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	g := store.Group{JID: "late:g", Name: "Paired later", Folder: "later"}
	h.register(g)
	h.start()
	h.message(msg(g.JID, "w1", "anyone there?", 0))
	h.waitLog("no connected channel owns the chat; messages wait")

	if _, err := h.d.ConnectChannel(h.ctx, func(channel.Options) (channel.Channel, error) { return nil, nil }); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("nothing to connect: %v, want ErrNotConfigured", err)
	}
	first := &lateChannel{fakeChannel: &fakeChannel{}, fatal: make(chan error, 1)}
	name, err := h.d.ConnectChannel(h.ctx, func(o channel.Options) (channel.Channel, error) {
		if o.Sink == nil || !strings.HasSuffix(o.StoreDir, "store") {
			t.Errorf("factory options %+v", o)
		}
		return first, nil
	})
	if err != nil || name != "late" {
		t.Fatalf("ConnectChannel: %q, %v", name, err)
	}
	r := h.nextRun()
	if p := r.request(t).Prompt; !strings.Contains(p, "anyone there?") {
		t.Fatalf("the waiting message was not run: %s", p)
	}
	r.reply(t, "here", "")
	first.waitSends(t, g.JID, 1)
	r.exit(0)
	first.waitTypingOff(t, g.JID, 1)

	second := &lateChannel{fakeChannel: &fakeChannel{}, fatal: make(chan error, 1)}
	if _, err := h.d.ConnectChannel(h.ctx, func(channel.Options) (channel.Channel, error) { return second, nil }); err != nil {
		t.Fatal(err)
	}
	if n := first.disconnected.Load(); n != 1 {
		t.Fatalf("the replaced channel was disconnected %d times, want 1", n)
	}
	names := 0
	for _, ch := range h.d.chans.All() {
		if ch.Name() == "late" {
			names++
			if ch != channel.Channel(second) {
				t.Errorf("the set holds the old channel")
			}
		}
	}
	if names != 1 {
		t.Fatalf("%d channels named late, want 1", names)
	}
	// The replaced channel no longer speaks for the host: its late fatal error is not the
	// reason the host stops.
	first.fatal <- errors.New("stale session gone")
	second.fatal <- errors.New("logged out")
	select {
	case err := <-h.runErr:
		h.runErr <- nil // the harness's cleanup: this stop was expected
		if err == nil || !strings.Contains(err.Error(), "late: logged out") {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the late channel's fatal error did not stop the host")
	}
}
