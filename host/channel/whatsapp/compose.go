package whatsapp

import (
	"context"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
)

// compose builds the WhatsApp message for one outbound text: plain text, or an extended
// text carrying the mentions it makes and the message it quotes.
func (c *Channel) compose(ctx context.Context, msg outMsg) *waE2E.Message {
	text := msg.text
	var mentioned []string
	if strings.Contains(text, "@") {
		text, mentioned = resolveMentions(text, c.people.candidates(ctx, msg.jid, c.opts.Now(), c.isOwn))
	}
	if len(mentioned) == 0 && msg.quote == nil {
		return textMessage(text)
	}
	ci := &waE2E.ContextInfo{}
	if msg.quote != nil {
		ci = c.quoteContext(msg.jid, msg.quote)
	}
	ci.MentionedJID = mentioned
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(text), ContextInfo: ci}}
}
