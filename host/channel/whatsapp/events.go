package whatsapp

import (
	"go.mau.fi/whatsmeow/types/events"
)

// handleEvent is whatsmeow's event handler: every event the client emits comes here, on
// whatsmeow's goroutine, and is sent to the part of the channel that owns it.
func (c *Channel) handleEvent(evt any) {
	switch e := evt.(type) {
	case *events.Message:
		c.onMessage(e)
	case *events.Connected:
		c.onConnected()
		c.announce()
		c.ringReceipts() // receipts asked for while disconnected
	case *events.PushNameSetting:
		c.announce() // the first connection after pairing learns the name only now
	case *events.Disconnected:
		c.onDisconnected()
	case *events.LoggedOut:
		c.onLoggedOut(e)
	case *events.StreamReplaced:
		c.onStreamReplaced()
	case *events.JoinedGroup:
		c.onGroupName(e.JID, e.Name)
	case *events.GroupInfo:
		if e.Name != nil {
			c.onGroupName(e.JID, e.Name.Name)
		}
	default:
		c.handleConnEvent(evt) // keepalive, bans, refused connections, outdated client
	}
}
