package whatsapp

import (
	"context"
	"slices"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// TestSendQuoting: a reply carries WhatsApp's quote (StanzaID, Participant, QuotedMessage).
// The participant is the address the quoted message came from when the channel saw it (a
// LID in a LID group), else the stored sender, the account for its own messages, and the
// chat itself in a direct chat.
func TestSendQuoting(t *testing.T) {
	for _, tc := range []struct {
		name, chat string
		seen       bool // the channel received the quoted message
		q          channel.Quote
		wantPart   string
	}{
		{"seen: as it came", sendGroup, true, channel.Quote{ID: "Q1", Sender: "15551234567@s.whatsapp.net", Text: "lunch?"}, "12345678901234@lid"},
		{"not seen: the stored sender", sendGroup, false, channel.Quote{ID: "Q1", Sender: "15551234567@s.whatsapp.net", Text: "lunch?"}, "15551234567@s.whatsapp.net"},
		{"own message", sendGroup, false, channel.Quote{ID: "Q1", Sender: "x", Text: "lunch?", FromMe: true}, "15550001111@s.whatsapp.net"},
		{"direct chat without a sender", sendDM, false, channel.Quote{ID: "Q1", Text: "lunch?"}, sendDM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSendFakeClient()
			c := New(Options{Sink: newSendSink(), AssistantName: "Andy", HasOwnNumber: true, MinSendInterval: 1},
				f, recvIdentity{pn: recvJID(t, recvOwnPN)})
			if err := c.Connect(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
			online(c)
			if tc.seen {
				c.handleEvent(groupMessage(t, "Q1", "12345678901234@lid", "15551234567@s.whatsapp.net", "Alice", "lunch?"))
			}
			if err := c.SendQuoting(context.Background(), tc.chat, "**yes**", tc.q); err != nil {
				t.Fatal(err)
			}
			a := f.next(t)
			ci := a.msg.GetExtendedTextMessage().GetContextInfo()
			if a.text != "*yes*" || ci.GetStanzaID() != "Q1" || ci.GetParticipant() != tc.wantPart ||
				ci.GetQuotedMessage().GetConversation() != "lunch?" {
				t.Fatalf("sent %q quoting id %q participant %q text %q; want *yes* quoting Q1 %s lunch?",
					a.text, ci.GetStanzaID(), ci.GetParticipant(), ci.GetQuotedMessage().GetConversation(), tc.wantPart)
			}
		})
	}
}

func TestSendQuotingWithMentionsAndWithoutQuote(t *testing.T) {
	c, f, _ := newSendChannel(t, Options{HasOwnNumber: true})
	online(c)
	c.handleEvent(groupMessage(t, "Q1", "15551234567@s.whatsapp.net", "", "Alice", "@Andy lunch?"))
	if err := c.SendQuoting(context.Background(), sendGroup, "@Alice sure", channel.Quote{ID: "Q1", Text: "@Andy lunch?"}); err != nil {
		t.Fatal(err)
	}
	a := f.next(t)
	ci := a.msg.GetExtendedTextMessage().GetContextInfo()
	if a.text != "@15551234567 sure" || ci.GetStanzaID() != "Q1" || !slices.Equal(ci.GetMentionedJID(), []string{"15551234567@s.whatsapp.net"}) {
		t.Fatalf("sent %q, context %v", a.text, ci)
	}
	// No ID: nothing to quote, a plain message.
	if err := c.SendQuoting(context.Background(), sendGroup, "plain", channel.Quote{}); err != nil {
		t.Fatal(err)
	}
	if a := f.next(t); a.msg.GetConversation() != "plain" {
		t.Fatalf("sent %v, want a plain conversation", a.msg)
	}
}
