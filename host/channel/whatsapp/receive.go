package whatsapp

import "go.mau.fi/whatsmeow/types/events"

// onMessage stores one inbound message (stub: receive side to be written).
func (c *Channel) onMessage(e *events.Message) {}
