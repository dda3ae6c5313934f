package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

var _ channel.Quoter = (*Channel)(nil)

// SendQuoting queues text for jid as a reply to q: WhatsApp shows the quoted message above
// it, as when a person taps "Reply". Otherwise it is Send.
func (c *Channel) SendQuoting(ctx context.Context, jid, text string, q channel.Quote) error {
	if q.ID == "" {
		return c.Send(ctx, jid, text)
	}
	return c.enqueue(jid, text, &q)
}

// quoteContext is the ContextInfo that quotes q in chat: the quoted message's ID, its
// sender (as WhatsApp addressed the message when it came in, when the channel saw it, else
// the stored sender; the account itself for its own) and its text.
func (c *Channel) quoteContext(chat types.JID, q *channel.Quote) *waE2E.ContextInfo {
	ci := &waE2E.ContextInfo{StanzaID: proto.String(q.ID), QuotedMessage: &waE2E.Message{Conversation: proto.String(q.Text)}}
	var sender types.JID
	c.mu.Lock()
	if a, ok := c.seen[types.MessageID(q.ID)]; ok {
		sender = a.sender
	}
	c.mu.Unlock()
	if sender.IsEmpty() && q.FromMe {
		if pn, _ := c.ident.Own(); !pn.IsEmpty() {
			sender = pn.ToNonAD()
		}
	}
	if sender.IsEmpty() && q.Sender != "" {
		if j, err := types.ParseJID(q.Sender); err == nil {
			sender = j.ToNonAD()
		}
	}
	if sender.IsEmpty() && chat.Server != types.GroupServer {
		sender = chat // in a direct chat, whoever is not us wrote it
	}
	if !sender.IsEmpty() {
		ci.Participant = proto.String(sender.String())
	}
	return ci
}
