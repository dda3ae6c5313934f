package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestRelayedMessageIsAnsweredOnce drops the relay example route plugin
// (plugins/examples/relay) into a real host: a ">>family" message said in main's chat is
// answered by family's agent in family's chat, and it is consumed in main's chat, so main's
// next conversation never carries it (it once stayed pending there and reached a second agent).
func TestRelayedMessageIsAnsweredOnce(t *testing.T) {
	d := requireDocker(t)
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := workDir(t, d)
	installPlugin(t, root, "plugins/examples/relay", filepath.Join(work, "plugins"), "relay")
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	if out, code := cli(t, work, vars, "groups", "add", "--jid", "local:family", "--folder", "family", "--name", "Family"); code != 0 {
		t.Fatalf("groups add: %s", out)
	}
	stop, logs := startHost(t, work, vars)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	main := dialChat(t, ctx, work, "local:main")
	fam := dialChat(t, ctx, work, "local:family")

	const relayed = "dinner at eight?"
	main.say(">>family " + relayed)
	req := api.next(t, 2*time.Minute)
	if !strings.Contains(req.Last, relayed) {
		t.Fatalf("the first model request is not the relayed message: %q", req.Last)
	}
	if got := fam.reply(time.Minute); !strings.HasSuffix(got, relayed) {
		t.Fatalf("family's reply %q (log:\n%s)", got, logs.String())
	}

	// Main's chat goes on without it: its agent's first prompt holds only the new message.
	main.say("what is on today?")
	req = api.next(t, 2*time.Minute)
	if !strings.Contains(req.Last, "what is on today?") || strings.Contains(req.Body, relayed) {
		t.Fatalf("main's agent got the relayed message too: %q", req.Last)
	}
	if got := main.reply(time.Minute); got != "reply: what is on today?" {
		t.Fatalf("main's reply %q", got)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	n := 0
	for _, r := range api.requests {
		if strings.Contains(r.Last, relayed) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the relayed message reached the model in %d prompts, want 1:\n%s", n, fmtRequests(api.requests))
	}
}
