package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// onEditOrRevoke handles the protocol messages that change a message already delivered,
// reporting whether e was one (it is then never stored as a message of its own):
//
//   - MESSAGE_EDIT (whatsmeow's unwrapped EditedMessage): the original's text is replaced,
//     with mentions of the account rewritten as for new messages. Only the original's
//     sender can edit it (the store checks), and an edit never starts a run, so an
//     answered question is not answered twice.
//   - REVOKE ("delete for everyone"): the original leaves what later prompts include. A
//     sender revokes their own message; in a group an admin may revoke another's, which
//     WhatsApp marks as an admin revoke naming the original's sender.
//
// With a Sink that takes no edits (channel.EditSink) both are dropped.
func (c *Channel) onEditOrRevoke(ctx context.Context, e *events.Message) bool {
	pm := e.Message.GetProtocolMessage()
	if pm == nil || pm.Type == nil { // REVOKE is the type's zero value: only an explicit one counts
		return false
	}
	switch pm.GetType() {
	case waE2E.ProtocolMessage_MESSAGE_EDIT, waE2E.ProtocolMessage_REVOKE:
	default:
		return false
	}
	id := pm.GetKey().GetID()
	sink, ok := c.opts.Sink.(channel.EditSink)
	if !ok || id == "" {
		return true
	}
	if pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT {
		c.onEdit(ctx, e, id, pm.GetEditedMessage(), sink)
	} else {
		c.onRevoke(ctx, e, id, pm.GetKey(), sink)
	}
	return true
}

// onEdit stores an edit's new text under the original's ID.
func (c *Channel) onEdit(ctx context.Context, e *events.Message, id string, content *waE2E.Message, sink channel.EditSink) {
	if content == nil {
		return
	}
	edited := *e
	edited.Message = content
	m, ok := c.buildMessage(ctx, &edited)
	if !ok || m.Content == "" {
		return
	}
	if err := sink.OnMessageEdit(ctx, m.ChatJID, id, m.Sender, m.Content); err != nil {
		c.log.Error("storing an edit", "chat", m.ChatJID, "id", id, "err", err)
	}
}

// onRevoke marks the original deleted. key is the original's key as the revoker sees it:
// a participant other than the revoker is an admin's revoke of that participant's message.
func (c *Channel) onRevoke(ctx context.Context, e *events.Message, id string, key *waCommon.MessageKey, sink channel.EditSink) {
	revoked := *e
	revoked.Message = &waE2E.Message{}
	m, ok := c.buildMessage(ctx, &revoked)
	if !ok {
		return
	}
	sender := m.Sender
	if p := key.GetParticipant(); p != "" {
		pj, err := types.ParseJID(p)
		if err != nil {
			return
		}
		orig := c.normalizeJID(ctx, pj.ToNonAD(), types.EmptyJID).String()
		if orig != sender {
			if !e.Info.IsGroup || e.Info.Edit != types.EditAttributeAdminRevoke || !c.mayAdminRevoke(ctx, e) {
				c.log.Warn("revoke of someone else's message that is not an admin's; ignored", "chat", m.ChatJID, "id", id)
				return
			}
			sender = orig
		}
	}
	if err := sink.OnMessageRevoke(ctx, m.ChatJID, id, sender); err != nil {
		c.log.Error("storing a revoke", "chat", m.ChatJID, "id", id, "err", err)
	}
}

// mayAdminRevoke checks an admin's revoke against the group's member list (the directory's,
// cached as for mentions): the revoker must be an admin there. When the list cannot be had
// (no directory, WhatsApp did not answer) WhatsApp's admin-revoke mark is trusted: at worst
// a forged one hides a message from the agent.
func (c *Channel) mayAdminRevoke(ctx context.Context, e *events.Message) bool {
	parts := c.people.participants(ctx, e.Info.Chat.ToNonAD(), c.opts.Now())
	if parts == nil {
		return true
	}
	who := map[types.JID]bool{}
	for _, j := range []types.JID{e.Info.Sender, e.Info.SenderAlt} {
		if !j.IsEmpty() {
			who[j.ToNonAD()] = true
		}
	}
	for _, p := range parts {
		if who[p.JID.ToNonAD()] || (!p.LID.IsEmpty() && who[p.LID.ToNonAD()]) || (!p.PhoneNumber.IsEmpty() && who[p.PhoneNumber.ToNonAD()]) {
			return p.IsAdmin || p.IsSuperAdmin
		}
	}
	return false
}
