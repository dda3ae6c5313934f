package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// fatalChannel is a channel that can stop for good, as WhatsApp does when logged out.
type fatalChannel struct {
	fakeChannel
	fatal chan error
}

func (c *fatalChannel) Fatal() <-chan error { return c.fatal }

// TestChannelFatalStopsHost: a channel's fatal error (logged out, session replaced) stops
// the host with that reason instead of leaving it running deaf.
func TestChannelFatalStopsHost(t *testing.T) {
	root, err := os.MkdirTemp("", "df")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(root, "store", "nanoclaw.db"))
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
	ch := &fatalChannel{fatal: make(chan error, 1)}
	d, err := New(Config{Root: root, Agents: testAgents(t, root), Settings: config.Settings{AssistantName: "Andy", Location: time.UTC}, Store: st, Groups: groups,
		Policy: newNativePolicy(groups), Runtime: &fakeRuntime{}, Proxy: proxy,
		Channels: []channel.Factory{func(channel.Options) (channel.Channel, error) { return ch, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }() // never cancelled: only the fatal error may stop it
	ch.fatal <- errors.New("logged out: pair again with `nanoclaw auth`")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "logged out") || !strings.Contains(err.Error(), "test:") {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the host kept running after its channel's fatal error")
	}
}
