package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// Stubs: the send and connection side is to be written.

func (c *Channel) Connect(ctx context.Context) error                        { return nil }
func (c *Channel) Disconnect(ctx context.Context) error                     { return nil }
func (c *Channel) Send(ctx context.Context, jid, text string) error         { return nil }
func (c *Channel) SetTyping(ctx context.Context, jid string, on bool) error { return nil }
func (c *Channel) MaxMessageLen() int                                       { return 0 }
func (c *Channel) SyncGroups(ctx context.Context, force bool) error         { return nil }
func (c *Channel) onConnected()                                             {}
func (c *Channel) onDisconnected()                                          {}
func (c *Channel) onLoggedOut(e *events.LoggedOut)                          {}
func (c *Channel) onStreamReplaced()                                        {}
func (c *Channel) onGroupName(jid types.JID, name string)                   {}
