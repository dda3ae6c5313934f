package daemon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// MarkRead makes the recording channel a channel.Reader: each call is a "read" with the
// message IDs, comma-separated.
func (c *fakeChannel) MarkRead(_ context.Context, jid string, msgs []store.Message) error {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	c.calls.add(chanCall{Kind: "read", JID: jid, Text: strings.Join(ids, ",")})
	return nil
}

// reads lists the read receipts asked for in jid, in order.
func (c *fakeChannel) reads(jid string) []string {
	var out []string
	for _, k := range c.calls.all() {
		if k.Kind == "read" && k.JID == jid {
			out = append(out, k.Text)
		}
	}
	return out
}

// Messages are marked read when an agent takes them, not when they arrive: context waits
// unread until a trigger starts a run, the batch is marked as the run starts (before the
// typing indicator), and each follow-up piped to the running container is marked as it is
// piped.
func TestMessagesMarkedReadWhenTaken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(familyGroup)
	h.start()
	h.message(msg(famJID, "c1", "just chatting", 0))
	h.assertIdle()
	if got := h.ch.reads(famJID); len(got) != 0 {
		t.Fatalf("context marked read on arrival: %q", got)
	}
	h.message(msg(famJID, "t1", "@Andy what's up?", 1))
	r := h.nextRun()
	r.request(t)
	if got := h.ch.reads(famJID); !slices.Equal(got, []string{"c1,t1"}) {
		t.Fatalf("reads at the run's start %q, want [c1,t1]", got)
	}
	calls := h.ch.calls.all()
	read := slices.IndexFunc(calls, func(c chanCall) bool { return c.Kind == "read" })
	typing := slices.IndexFunc(calls, func(c chanCall) bool { return c.Kind == "typing" && c.On })
	if read < 0 || typing < 0 || read > typing {
		t.Errorf("read receipt at %d, typing at %d: want the receipt first", read, typing)
	}
	h.message(msg(famJID, "t2", "@Andy and another", 2))
	r.waitInputs(t, 1)
	if got := h.ch.reads(famJID); !slices.Equal(got, []string{"c1,t1", "t2"}) {
		t.Fatalf("reads after a follow-up %q, want [c1,t1 t2]", got)
	}
	r.reply(t, "done", "")
	h.ch.waitSends(t, famJID, 1)
	r.exit(0)
	h.drain()
}

// An edit changes the stored text and starts nothing, answered or not; a revoke takes the
// message out of the next prompt; an edit by someone other than the sender is ignored.
func TestEditsAndRevokesStartNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(familyGroup)
	h.start()
	h.message(msg(famJID, "t1", "@Andy wat time is it", 0))
	r := h.nextRun()
	r.request(t)
	r.reply(t, "noon", "")
	h.ch.waitSends(t, famJID, 1)
	r.exit(0)
	h.ch.waitTypingOff(t, famJID, 1)

	// Context stored as a channel would (no trigger: kept, not delivered).
	ctxMsg := msg(famJID, "c1", "pizza tonigth", 1)
	gone := msg(famJID, "c2", "my PIN is 1234", 2)
	gone.Sender = "bob@test"
	h.message(ctxMsg)
	h.message(gone)
	for _, step := range []func() error{
		// The answered trigger is edited: no second answer.
		func() error { return h.d.OnMessageEdit(h.ctx, famJID, "t1", "alice@test", "@Andy what time is it") },
		func() error { return h.d.OnMessageEdit(h.ctx, famJID, "c1", "alice@test", "pizza tonight") },
		func() error { return h.d.OnMessageEdit(h.ctx, famJID, "c1", "bob@test", "no pizza") },
		func() error { return h.d.OnMessageRevoke(h.ctx, famJID, "c2", "bob@test") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	h.message(msg(famJID, "t2", "@Andy shall we order?", 3))
	r2 := h.nextRun()
	p := r2.request(t).Prompt
	for _, want := range []string{"pizza tonight", "shall we order?"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p)
		}
	}
	for _, bad := range []string{"tonigth", "no pizza", "PIN", "what time", "wat time"} {
		if strings.Contains(p, bad) {
			t.Errorf("prompt has %q:\n%s", bad, p)
		}
	}
	r2.reply(t, "yes", "")
	h.ch.waitSends(t, famJID, 2)
	r2.exit(0)
	h.drain()
	if n := len(h.rt.runs.all()); n != 2 {
		t.Errorf("%d containers, want 2: edits and revokes start none", n)
	}
	all, err := h.st.MessagesSince(h.ctx, famJID, "", "Andy:", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0].ID != "t1" || all[0].Content != "@Andy what time is it" {
		t.Fatalf("history after the edit: %+v", all)
	}
}

// A message a route plugin delivered to another group is marked read in the chat it was
// written in, under its own ID, when that group's agent takes it; editing or deleting the
// original changes the copy the other group's agent sees.
func TestRoutedMessageReceiptsAndRevokes(t *testing.T) {
	t.Parallel()
	const lobbyJID = "test:lobby"
	lobby := store.Group{JID: lobbyJID, Name: "Lobby", Folder: "lobby", RequiresTrigger: true}
	h := newHarness(t, options{policy: func(base Policy) Policy {
		return routeTo{Policy: base, decide: func(req *protocol.RouteRequest) (plugin.RouteDecision, bool) {
			if req.Message.ChatJID != lobbyJID {
				return plugin.RouteDecision{}, false
			}
			return plugin.RouteDecision{RouteVerdict: protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "family"}, DecidedBy: "test"}, true
		}}
	}})
	h.register(lobby)
	h.register(familyGroup)
	h.start()
	h.message(msg(lobbyJID, "x1", "what's the plan", 0))
	r := h.nextRun()
	r.request(t)
	if got := h.ch.reads(lobbyJID); !slices.Equal(got, []string{"x1"}) {
		t.Fatalf("reads in the lobby %q, want [x1]; in family %q", got, h.ch.reads(famJID))
	}
	if got := h.ch.reads(famJID); len(got) != 0 {
		t.Errorf("the routed copy was marked read in the family chat: %q", got)
	}
	r.reply(t, "noon", "")
	h.ch.waitSends(t, famJID, 1)
	r.exit(0)
	h.ch.waitTypingOff(t, famJID, 1)

	// Two more routed earlier (stored as the host stores them, kept as context so that no
	// run races the checks): one is edited, one deleted.
	for _, m := range []store.Message{msg(lobbyJID, "x2", "bring snacks", 1), msg(lobbyJID, "x3", "my PIN is 1234", 2)} {
		m.RouteAction, m.HandledAs = protocol.ActionStore, "routed:family"
		h.storeMessage(m)
		m.ID, m.ChatJID, m.HandledAs = routedID(lobbyJID, m.ID), famJID, ""
		h.storeMessage(m)
	}
	if err := h.d.OnMessageEdit(h.ctx, lobbyJID, "x2", "alice@test", "bring drinks"); err != nil {
		t.Fatal(err)
	}
	if err := h.d.OnMessageRevoke(h.ctx, lobbyJID, "x3", "alice@test"); err != nil {
		t.Fatal(err)
	}
	pending, err := h.st.MessagesAfter(h.ctx, famJID, ts(0), "Andy:", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := contentsOf(pending); !slices.Equal(got, []string{"bring drinks"}) {
		t.Fatalf("family's pending copies %q, want [bring drinks]", got)
	}
	h.drain()
}

func contentsOf(ms []store.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

// A message deleted for everyone takes its files out of the group folder they were kept in:
// its own group's, or the one a route plugin delivered it to.
func TestRevokeRemovesFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	const lobbyJID = "test:lobby"
	h.register(store.Group{JID: lobbyJID, Name: "Lobby", Folder: "lobby", RequiresTrigger: true})
	h.register(familyGroup)
	h.start()
	file := func(folder, name string) string { return filepath.Join(h.root, "groups", folder, "media", name) }
	for _, p := range []string{file("family", "own.jpg"), file("family", "routed.jpg"), file("family", "kept.jpg")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("jpeg"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	with := func(m store.Message, path, handled string) store.Message {
		m.Attachments = []store.Attachment{{Kind: "image", Path: "media/" + path}}
		m.RouteAction, m.HandledAs = protocol.ActionStore, handled
		return m
	}
	h.storeMessage(with(msg(famJID, "f1", "[image]", 0), "own.jpg", ""))
	h.storeMessage(with(msg(lobbyJID, "l1", "[image]", 1), "routed.jpg", "routed:family"))
	h.storeMessage(with(msg(famJID, "f2", "[image]", 2), "kept.jpg", ""))
	for _, r := range [][2]string{{famJID, "f1"}, {lobbyJID, "l1"}} {
		if err := h.d.OnMessageRevoke(h.ctx, r[0], r[1], "alice@test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{file("family", "own.jpg"), file("family", "routed.jpg")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	if _, err := os.Stat(file("family", "kept.jpg")); err != nil {
		t.Errorf("another message's file went too: %v", err)
	}
	h.drain()
}
