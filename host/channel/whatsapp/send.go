package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// maxTextLen is the longest message the channel sends, in runes. WhatsApp itself accepts
// far longer texts (about 65 000 characters), but phones fold long messages behind "Read
// more" and very long ones are slow to render; 4096 keeps each part readable and matches
// what other chat networks allow.
const maxTextLen = 4096

// ErrStopped is returned by Send after the channel stopped: disconnected, logged out, or
// replaced by another session.
var ErrStopped = errors.New("whatsapp channel stopped")

// Send queues text for jid and returns at once: the sender goroutine delivers the outbox in
// order while connected, spaced by MinSendInterval. The model's Markdown becomes WhatsApp
// formatting (FormatText). In shared-number mode the text is prefixed with
// "<AssistantName>: " so that people (and the receive side) can tell the assistant's
// messages from the owner's.
func (c *Channel) Send(ctx context.Context, jid, text string) error {
	return c.enqueue(jid, text, nil)
}

// enqueue formats text and queues it for jid, quoting q when it is not nil.
func (c *Channel) enqueue(jid, text string, q *channel.Quote) error {
	to, err := parseChatJID(jid)
	if err != nil {
		return err
	}
	text = c.prefix() + FormatText(text)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("send to %s: %w", jid, ErrStopped)
	}
	if len(c.outbox) >= maxOutbox {
		dropped := c.outbox[0]
		c.outbox = c.outbox[1:]
		c.log.Error("outbox full: dropping the oldest unsent message", "chat", dropped.jid.String(), "len", utf8.RuneCountInString(dropped.text))
	}
	c.outbox = append(c.outbox, outMsg{jid: to, text: text, quote: q})
	c.mu.Unlock()
	c.ring()
	c.repliedIn(to) // working presence: the reply ends the work there (presence.go)
	return nil
}

// SetTyping shows (composing) or hides (paused) the typing indicator in a chat.
func (c *Channel) SetTyping(ctx context.Context, jid string, on bool) error {
	to, err := parseChatJID(jid)
	if err != nil {
		return err
	}
	state := types.ChatPresencePaused
	if on {
		state = types.ChatPresenceComposing
	}
	before, after := c.typingPresence(to, on) // working mode: online while typing (presence.go)
	if before != "" {
		c.sendPresence(before)
	}
	if after != "" {
		defer c.sendPresence(after)
	}
	if err := c.client.SendChatPresence(ctx, to, state, types.ChatPresenceMediaText); err != nil {
		return fmt.Errorf("whatsapp typing %s in %s: %w", state, jid, err)
	}
	return nil
}

// MaxMessageLen is 4096 runes (see maxTextLen) less the name prefix the channel adds in
// shared-number mode, so that a prefixed part still fits.
func (c *Channel) MaxMessageLen() int {
	return maxTextLen - utf8.RuneCountInString(c.prefix())
}

// prefix is "<AssistantName>: " in shared-number mode, else "".
func (c *Channel) prefix() string {
	if c.opts.HasOwnNumber || c.opts.AssistantName == "" {
		return ""
	}
	return c.opts.AssistantName + ": "
}

// parseChatJID parses a chat JID and refuses anything that is not a WhatsApp user, group
// or LID chat.
func parseChatJID(jid string) (types.JID, error) {
	j, err := types.ParseJID(jid)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("whatsapp: bad chat JID %q: %w", jid, err)
	}
	switch j.Server {
	case types.GroupServer, types.DefaultUserServer, types.HiddenUserServer:
	default:
		return types.EmptyJID, fmt.Errorf("whatsapp: %q is not a WhatsApp chat JID", jid)
	}
	if j.User == "" {
		return types.EmptyJID, fmt.Errorf("whatsapp: %q has no user part", jid)
	}
	return j.ToNonAD(), nil
}

// textMessage is a plain text message.
func textMessage(text string) *waE2E.Message {
	return &waE2E.Message{Conversation: proto.String(text)}
}
