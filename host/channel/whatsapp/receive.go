package whatsapp

import (
	"cmp"
	"context"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// sinkTimeout bounds the sink calls for one inbound message.
const sinkTimeout = 30 * time.Second

// onMessage hands one inbound message to the sink: the chat's metadata first, then the
// message itself. Every chat and every message with usable content is passed on; the host
// decides what is stored (unregistered chats are only recorded as chats).
//
// Edits and revokes change a stored message instead (edits.go); other protocol messages
// carry no text and are skipped.
func (c *Channel) onMessage(e *events.Message) {
	if e == nil || e.Message == nil || e.Info.Chat.IsEmpty() || c.opts.Sink == nil {
		return
	}
	info := e.Info
	if info.Chat.User == types.StatusBroadcastJID.User && info.Chat.Server == types.BroadcastServer {
		return
	}
	media := c.messageMedia(e.Message, e.IsViewOnce)
	timeout := sinkTimeout
	if len(media) > 0 {
		timeout += mediaTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	if c.onEditOrRevoke(ctx, e) {
		return
	}
	msg, ok := c.buildMessage(ctx, e)
	if !ok {
		return
	}
	c.remember(info.ID, info.Chat, info.Sender)
	if !info.IsFromMe {
		c.people.saw(msg.ChatJID, info.Sender, info.SenderAlt, info.PushName)
	}
	ts := info.Timestamp
	if ts.IsZero() {
		ts = c.opts.Now()
	}
	meta := channel.ChatMeta{JID: msg.ChatJID, Channel: Name, IsGroup: strings.HasSuffix(msg.ChatJID, "@"+types.GroupServer), Time: ts}
	if err := c.opts.Sink.OnChatMetadata(ctx, meta); err != nil {
		c.log.Error("storing chat metadata", "chat", meta.JID, "err", err)
	}
	if msg.Content == "" {
		return
	}
	if msg.Timestamp == "" {
		msg.Timestamp = store.Timestamp(ts)
	}
	var err error
	if ms, ok := c.opts.Sink.(channel.MediaSink); ok && len(media) > 0 {
		err = ms.OnMediaMessage(ctx, msg, media)
	} else {
		err = c.opts.Sink.OnMessage(ctx, msg)
	}
	if err != nil {
		c.log.Error("storing inbound message", "chat", msg.ChatJID, "id", msg.ID, "err", err)
	}
}

// buildMessage turns an event into a store.Message. ok is false when the event names no
// usable chat; Content is "" when the message has nothing to hand on (the chat is still
// recorded).
func (c *Channel) buildMessage(ctx context.Context, e *events.Message) (store.Message, bool) {
	info := e.Info
	chat := info.Chat.ToNonAD()
	sender := info.Sender.ToNonAD()
	if chat.IsBroadcastList() {
		// A broadcast list message shows up in the DM with its sender; our own sends to a
		// list are not a conversation.
		if info.IsFromMe || sender.IsEmpty() {
			return store.Message{}, false
		}
		chat = sender
	}
	if sender.IsEmpty() {
		sender = chat
	}
	// The chat's alternative address: the sender's when the sender is the chat (an incoming
	// DM), else the recipient's (our own message in a DM).
	chatAlt := info.RecipientAlt
	if chat == sender {
		chatAlt = info.SenderAlt
	}
	chat = c.normalizeJID(ctx, chat, chatAlt)
	sender = c.normalizeJID(ctx, sender, info.SenderAlt)

	content := e.Message
	text, _ := messageText(content)
	text = rewriteMentions(text, c.ownUsers(), c.opts.AssistantName)

	name := info.PushName
	if name == "" {
		name = sender.User
	}
	m := store.Message{
		ID:         string(info.ID),
		ChatJID:    chat.String(),
		Sender:     sender.String(),
		SenderName: name,
		Content:    text,
		IsFromMe:   info.IsFromMe,
	}
	if !info.Timestamp.IsZero() {
		m.Timestamp = store.Timestamp(info.Timestamp)
	}
	m.IsBotMessage = c.isBotMessage(m)
	if r, ok := replyContext(contextInfo(content)); ok {
		m.ReplyToMessageID = r.id
		m.ReplyToMessageContent = r.content
		if !r.participant.IsEmpty() {
			p := c.normalizeJID(ctx, r.participant.ToNonAD(), types.EmptyJID)
			switch {
			case c.isOwn(p):
				m.ReplyToSenderName = c.opts.AssistantName
			default:
				// The name they go by (seen here, or the store's), else their number.
				m.ReplyToSenderName = cmp.Or(c.people.nameOf(ctx, m.ChatJID, r.participant, p), p.User)
			}
		}
	}
	return m, true
}

// isBotMessage says whether m is the assistant's own: every own message with a dedicated
// number, the "Name:" prefix on a shared number, and any echo of an ID the channel sent.
func (c *Channel) isBotMessage(m store.Message) bool {
	c.mu.Lock()
	sent := c.sentIDs[types.MessageID(m.ID)]
	c.mu.Unlock()
	if sent {
		return true
	}
	if c.opts.HasOwnNumber {
		return m.IsFromMe
	}
	return c.opts.AssistantName != "" && strings.HasPrefix(m.Content, c.opts.AssistantName+":")
}

// normalizeJID drops the device part and maps a LID to its phone-number JID when known:
// the account's own LID, the event's alternative address, then the LID store. An unknown
// LID is kept.
func (c *Channel) normalizeJID(ctx context.Context, jid, alt types.JID) types.JID {
	jid = jid.ToNonAD()
	if jid.Server != types.HiddenUserServer {
		return jid
	}
	if pn, lid := c.ident.Own(); !pn.IsEmpty() && jid == lid.ToNonAD() {
		return pn.ToNonAD()
	}
	if alt.Server == types.DefaultUserServer {
		return alt.ToNonAD()
	}
	if pn, ok := c.ident.PNForLID(ctx, jid); ok && !pn.IsEmpty() {
		return pn.ToNonAD()
	}
	return jid
}

// ownUsers lists the user parts of the account's phone JID and LID.
func (c *Channel) ownUsers() []string {
	pn, lid := c.ident.Own()
	var users []string
	for _, j := range []types.JID{pn, lid} {
		if j.User != "" {
			users = append(users, j.User)
		}
	}
	return users
}

// isOwn reports whether jid is the account itself (by phone number or LID).
func (c *Channel) isOwn(jid types.JID) bool {
	if jid.User == "" {
		return false
	}
	pn, lid := c.ident.Own()
	jid = jid.ToNonAD()
	return (!pn.IsEmpty() && jid == pn.ToNonAD()) || (!lid.IsEmpty() && jid == lid.ToNonAD())
}

// messageText extracts what the agent should read from a message: its text or caption, or
// a short placeholder for media without one. ok is false when there is nothing to hand on
// (reactions, protocol messages, polls...).
func messageText(m *waE2E.Message) (text string, ok bool) {
	if m == nil {
		return "", false
	}
	for _, t := range []string{
		m.GetConversation(),
		m.GetExtendedTextMessage().GetText(),
		m.GetImageMessage().GetCaption(),
		m.GetVideoMessage().GetCaption(),
		m.GetDocumentMessage().GetCaption(),
	} {
		if strings.TrimSpace(t) != "" {
			return t, true
		}
	}
	switch {
	case m.GetImageMessage() != nil:
		return "[image]", true
	case m.GetVideoMessage() != nil, m.GetPtvMessage() != nil:
		return "[video]", true
	case m.GetAudioMessage() != nil:
		if m.GetAudioMessage().GetPTT() {
			return "[voice message]", true
		}
		return "[audio]", true
	case m.GetDocumentMessage() != nil:
		if f := m.GetDocumentMessage().GetFileName(); f != "" {
			return "[document: " + f + "]", true
		}
		return "[document]", true
	case m.GetStickerMessage() != nil:
		return "[sticker]", true
	case m.GetLocationMessage() != nil, m.GetLiveLocationMessage() != nil:
		return "[location]", true
	case m.GetContactMessage() != nil, m.GetContactsArrayMessage() != nil:
		return "[contact]", true
	}
	return "", false
}

// rewriteMentions replaces "@<own user>" (a mention of the account by phone number or LID)
// with "@<assistant>", so the trigger pattern matches. A longer number that merely starts
// with an own user part is left alone.
func rewriteMentions(text string, ownUsers []string, assistant string) string {
	if assistant == "" {
		return text
	}
	for _, u := range ownUsers {
		if u == "" {
			continue
		}
		needle := "@" + u
		var b strings.Builder
		rest := text
		for {
			i := strings.Index(rest, needle)
			if i < 0 {
				break
			}
			end := i + len(needle)
			b.WriteString(rest[:i])
			if end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
				b.WriteString(needle)
			} else {
				b.WriteString("@" + assistant)
			}
			rest = rest[end:]
		}
		if b.Len() > 0 {
			b.WriteString(rest)
			text = b.String()
		}
	}
	return text
}

// reply is the quoted message a message answers.
type reply struct {
	id          string
	content     string
	participant types.JID // the quoted message's sender; empty when unknown
}

// replyContext reads the quoted message from a ContextInfo; ok is false when the message is
// not a reply.
func replyContext(ci *waE2E.ContextInfo) (reply, bool) {
	if ci.GetStanzaID() == "" {
		return reply{}, false
	}
	r := reply{id: ci.GetStanzaID()}
	r.content, _ = messageText(ci.GetQuotedMessage())
	if p := ci.GetParticipant(); p != "" {
		if jid, err := types.ParseJID(p); err == nil {
			r.participant = jid.ToNonAD()
		}
	}
	return r, true
}

// contextInfo finds the ContextInfo (reply, mentions) of whichever content a message holds.
func contextInfo(m *waE2E.Message) *waE2E.ContextInfo {
	switch {
	case m == nil:
		return nil
	case m.GetExtendedTextMessage() != nil:
		return m.GetExtendedTextMessage().GetContextInfo()
	case m.GetImageMessage() != nil:
		return m.GetImageMessage().GetContextInfo()
	case m.GetVideoMessage() != nil:
		return m.GetVideoMessage().GetContextInfo()
	case m.GetPtvMessage() != nil:
		return m.GetPtvMessage().GetContextInfo()
	case m.GetDocumentMessage() != nil:
		return m.GetDocumentMessage().GetContextInfo()
	case m.GetAudioMessage() != nil:
		return m.GetAudioMessage().GetContextInfo()
	case m.GetStickerMessage() != nil:
		return m.GetStickerMessage().GetContextInfo()
	case m.GetLocationMessage() != nil:
		return m.GetLocationMessage().GetContextInfo()
	case m.GetLiveLocationMessage() != nil:
		return m.GetLiveLocationMessage().GetContextInfo()
	case m.GetContactMessage() != nil:
		return m.GetContactMessage().GetContextInfo()
	case m.GetContactsArrayMessage() != nil:
		return m.GetContactsArrayMessage().GetContextInfo()
	}
	return nil
}
