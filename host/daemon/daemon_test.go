package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New without a store, policy, runtime and proxy succeeded")
	}
}

// brokenChannel cannot connect.
type brokenChannel struct{ *fakeChannel }

func (brokenChannel) Connect(context.Context) error { return errors.New("no network") }

// Run refuses to serve when no channel connects: one not configured, one failing.
func TestRunWithoutChannel(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(root, "store", "messages.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	proxy, err := credproxy.New(credproxy.Config{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	groups := NewGroups()
	d, err := New(Config{Root: root, Agents: testAgents(t, root), Store: st, Groups: groups, Policy: newNativePolicy(groups), Runtime: &fakeRuntime{}, Proxy: proxy,
		Channels: []channel.Factory{
			func(channel.Options) (channel.Channel, error) { return nil, nil },
			func(channel.Options) (channel.Channel, error) { return brokenChannel{&fakeChannel{}}, nil },
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no channel connected") {
		t.Errorf("Run: %v", err)
	}
}

// A group registered by another process (the groups CLI) is served after ReloadGroups.
func TestReloadGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	h.start()
	h.register(familyGroup) // straight into the store, as `nanoclaw groups add` does
	h.message(msg(famJID, "f1", "@Andy hello", 0))
	h.assertIdle()
	if got, _ := h.st.MessagesSince(h.ctx, famJID, "", "Andy:", 0); len(got) != 0 {
		t.Fatalf("a message for a group the host does not know yet was stored: %+v", got)
	}
	if err := h.d.ReloadGroups(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.message(msg(famJID, "f2", "@Andy hello again", 1))
	r := h.nextRun()
	if req := r.request(t); req.GroupFolder != "family" || !strings.Contains(req.Prompt, "hello again") {
		t.Errorf("request %+v", req)
	}
	r.reply(t, "hi", "")
	h.ch.waitSends(t, famJID, 1)
	r.exit(0)
	h.drain()
}
