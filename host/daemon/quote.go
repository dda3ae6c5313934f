package daemon

import (
	"context"
	"strings"
	"unicode"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// triggerID is the message a batch's reply answers: the last that asked for the agent (its
// route verdict was deliver), else the last of the batch.
func triggerID(batch []store.Message) string {
	for i := len(batch) - 1; i >= 0; i-- {
		if batch[i].RouteAction == protocol.ActionDeliver {
			return batch[i].ID
		}
	}
	if len(batch) == 0 {
		return ""
	}
	return batch[len(batch)-1].ID
}

// quotesReplies says whether replies in jid quote what they answer: the group's setting,
// else on in group chats and off in direct chats (where quoting every answer is noise).
func (d *Daemon) quotesReplies(ctx context.Context, jid string) bool {
	g, ok := d.groups.ByJID(jid)
	if ok && g.QuoteReplies != nil {
		return *g.QuoteReplies
	}
	c, ok, err := d.cfg.Store.Chat(ctx, jid)
	return err == nil && ok && c.IsGroup
}

// quoteFor is what a reply to message replyTo in jid quotes, when ch can quote, the chat
// quotes replies and the message is stored (it may have been deleted since).
func (d *Daemon) quoteFor(ctx context.Context, ch channel.Channel, jid, replyTo string) (channel.Quote, bool) {
	if replyTo == "" {
		return channel.Quote{}, false
	}
	if _, ok := ch.(channel.Quoter); !ok || !d.quotesReplies(ctx, jid) {
		return channel.Quote{}, false
	}
	m, ok, err := d.cfg.Store.Message(ctx, jid, replyTo)
	if err != nil || !ok || strings.TrimSpace(m.Content) == "" {
		return channel.Quote{}, false
	}
	return channel.Quote{ID: m.ID, Sender: m.Sender, Text: m.Content, FromMe: m.IsFromMe}, true
}

// nameQuoted fills in who wrote the message m replies to, when its channel could give only
// a number (or nothing): the name the quoted message was stored under, the assistant for
// its own messages. The quoted text is filled in too when the channel had none.
func (d *Daemon) nameQuoted(ctx context.Context, m store.Message) store.Message {
	if m.ReplyToMessageID == "" || (m.ReplyToSenderName != "" && !isNumber(m.ReplyToSenderName) && m.ReplyToMessageContent != "") {
		return m
	}
	q, ok, err := d.cfg.Store.Message(ctx, m.ChatJID, m.ReplyToMessageID)
	if err != nil || !ok {
		return m
	}
	switch {
	case m.ReplyToSenderName != "" && !isNumber(m.ReplyToSenderName):
	case q.IsBotMessage:
		m.ReplyToSenderName = d.cfg.Settings.AssistantName
	case q.SenderName != "" && !isNumber(q.SenderName):
		m.ReplyToSenderName = q.SenderName
	}
	if m.ReplyToMessageContent == "" {
		m.ReplyToMessageContent = q.Content
	}
	return m
}

// isNumber says whether s is only digits (with an optional +): a phone number or LID, not a name.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) }) < 0
}
