package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

var _ channel.Quoter = (*fakeChannel)(nil)

// SendQuoting records a send with the message it quotes.
func (c *fakeChannel) SendQuoting(_ context.Context, jid, text string, q channel.Quote) error {
	c.calls.add(chanCall{Kind: "send", JID: jid, Text: text, Quote: q.ID + "|" + q.Sender + "|" + q.Text})
	return nil
}

// quotes lists what each send to jid quoted ("" for none).
func (c *fakeChannel) quotes(jid string) []string {
	var out []string
	for _, k := range c.calls.all() {
		if k.Kind == "send" && k.JID == jid {
			out = append(out, k.Quote)
		}
	}
	return out
}

func TestTriggerID(t *testing.T) {
	m := func(id, action string) store.Message { return store.Message{ID: id, RouteAction: action} }
	for _, tc := range []struct {
		name  string
		batch []store.Message
		want  string
	}{
		{"empty", nil, ""},
		{"the last that asked", []store.Message{m("a", "deliver"), m("b", "store"), m("c", "deliver"), m("d", "store")}, "c"},
		{"no verdicts: the last", []store.Message{m("a", ""), m("b", "")}, "b"},
	} {
		if got := triggerID(tc.batch); got != tc.want {
			t.Errorf("%s: triggerID = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A reply quotes the message that asked for the agent (not later context, not earlier
// chatter), in group chats by default and as each group's setting says; a direct chat does
// not quote unless its group says so.
func TestReplyQuotesItsTrigger(t *testing.T) {
	t.Parallel()
	on, off := true, false
	for _, tc := range []struct {
		name    string
		isGroup bool
		quote   *bool
		want    string
	}{
		{"group chat, default: quoted", true, nil, "m2|alice@test|@Andy what's for dinner?"},
		{"group chat, turned off", true, &off, ""},
		{"direct chat, default: not quoted", false, nil, ""},
		{"direct chat, turned on", false, &on, "m2|alice@test|@Andy what's for dinner?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, options{})
			g := familyGroup
			g.QuoteReplies = tc.quote
			h.register(g)
			h.start()
			for i, text := range []string{"hello everyone", "@Andy what's for dinner?"} {
				m := msg(famJID, "m"+string(rune('1'+i)), text, i)
				if err := h.d.OnChatMetadata(h.ctx, channel.ChatMeta{JID: famJID, Channel: "test", IsGroup: tc.isGroup}); err != nil {
					t.Fatal(err)
				}
				if err := h.d.OnMessage(h.ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			r := h.nextRun()
			r.request(t)
			r.reply(t, "pasta", "")
			h.ch.waitSends(t, famJID, 1)
			r.exit(0)
			h.drain()
			if got := h.ch.quotes(famJID); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("quoted %q, want [%q]", got, tc.want)
			}
			out, err := h.st.OutgoingFor(h.ctx, famJID)
			if err != nil || len(out) != 1 || out[0].ReplyTo != "m2" {
				t.Fatalf("outbox %+v %v: want one reply to m2", out, err)
			}
		})
	}
}

// A follow-up piped to a running container is answered quoting the follow-up.
func TestFollowUpReplyQuotesTheFollowUp(t *testing.T) {
	t.Parallel()
	// The idle timeout cannot fire mid-test (see TestFollowUpInFlightUntilAnswered).
	h := newHarness(t, options{settings: func(s *config.Settings) { s.IdleTimeout = time.Hour }})
	h.register(mainGroup)
	h.start()
	h.message(msg(mainJID, "m1", "first", 0))
	r := h.nextRun()
	r.request(t)
	r.reply(t, "one", "")
	h.ch.waitSends(t, mainJID, 1)
	h.message(msg(mainJID, "m2", "and another thing", 1))
	r.waitInputs(t, 1)
	r.reply(t, "two", "")
	h.ch.waitSends(t, mainJID, 2)
	r.exit(0)
	h.drain()
	want := []string{"m1|alice@test|first", "m2|alice@test|and another thing"}
	if got := h.ch.quotes(mainJID); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("quoted %q, want %q", got, want)
	}
}

// A reply whose channel named the quoted sender only by number gets the name the quoted
// message was stored under (the assistant for its own); a name the channel gave is kept.
func TestQuotedSenderNamedFromTheStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(familyGroup)
	h.start()
	bob := msg(famJID, "b1", "lunch?", 0)
	bob.Sender, bob.SenderName = "15557654321@test", "Bob"
	h.message(bob)
	bot := msg(famJID, "a1", "Andy: done", 1)
	bot.IsBotMessage = true
	h.message(bot)
	for i, tc := range []struct {
		name, replyTo, given, content, want, wantContent string
	}{
		{"number replaced by the stored name", "b1", "15557654321", "lunch?", "Bob", "lunch?"},
		{"missing name and text filled in", "b1", "", "", "Bob", "lunch?"},
		{"the assistant's message", "a1", "15550001111", "Andy: done", "Andy", "Andy: done"},
		{"a name is kept", "b1", "Bobby", "lunch?", "Bobby", "lunch?"},
		{"unknown message: as given", "zz", "15550000000", "hm", "15550000000", "hm"},
	} {
		m := msg(famJID, fmt.Sprintf("r%d", i), "re", 2+i)
		m.ReplyToMessageID, m.ReplyToSenderName, m.ReplyToMessageContent = tc.replyTo, tc.given, tc.content
		h.message(m)
		got, ok, err := h.st.Message(h.ctx, famJID, m.ID)
		if err != nil || !ok {
			t.Fatalf("%s: stored %v %v", tc.name, ok, err)
		}
		if got.ReplyToSenderName != tc.want || got.ReplyToMessageContent != tc.wantContent {
			t.Errorf("%s: quoted %q %q, want %q %q", tc.name, got.ReplyToSenderName, got.ReplyToMessageContent, tc.want, tc.wantContent)
		}
	}
}
