package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// EnvPresence chooses when the account shows as online: "online" (from every connection on)
// or "working" (only while an agent works, typing in some chat). The default is "online"
// with a dedicated number and "working" on a shared one: WhatsApp sends the phone no
// notifications while a linked device is online, and on a shared number that phone is the
// owner's.
const EnvPresence = "NANOCLAW_WHATSAPP_PRESENCE"

// Presence modes (Options.Presence).
const (
	PresenceOnline  = "online"
	PresenceWorking = "working"
)

// presenceTimeout bounds one presence update.
const presenceTimeout = 10 * time.Second

// ParsePresence checks a presence mode; "" picks the default for the number's kind.
func ParsePresence(v string, ownNumber bool) (string, error) {
	switch v {
	case "":
		if ownNumber {
			return PresenceOnline, nil
		}
		return PresenceWorking, nil
	case PresenceOnline, PresenceWorking:
		return v, nil
	}
	return "", fmt.Errorf("%s=%q: want %q or %q", EnvPresence, v, PresenceOnline, PresenceWorking)
}

// presenceMode is the channel's mode, defaulted by the kind of number.
func (c *Channel) presenceMode() string {
	m, err := ParsePresence(c.opts.Presence, c.opts.HasOwnNumber)
	if err != nil {
		return PresenceWorking
	}
	return m
}

// announce sends the account's presence on a new connection: "available" in online mode
// (whatsmeow: WhatsApp shows typing and active receipts only then), "unavailable" in
// working mode, which still tells the server the push name and leaves the phone its
// notifications. Before pairing synced the push name whatsmeow refuses; the PushNameSetting
// that follows calls announce again. Working mode goes online again while typing.
func (c *Channel) announce() {
	state := types.PresenceAvailable
	c.mu.Lock()
	if c.presenceMode() == PresenceWorking && len(c.typingIn) == 0 {
		state = types.PresenceUnavailable
	}
	c.mu.Unlock()
	c.sendPresence(state)
}

// sendPresence sends the account's presence, logging failures.
func (c *Channel) sendPresence(state types.Presence) {
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	err := c.client.SendPresence(ctx, state)
	switch {
	case errors.Is(err, whatsmeow.ErrNoPushName):
		c.log.Debug("presence waits for the account's push name", "presence", state)
	case err != nil:
		c.log.Warn("sending presence failed; read receipts and typing may not show", "presence", state, "err", err)
	default:
		c.log.Debug("presence sent", "presence", state)
	}
}

// typingPresence keeps a working-mode account online while it types in any chat: online
// before the first chat's "composing", offline after the last chat's "paused". Online mode
// changes nothing here.
func (c *Channel) typingPresence(chat types.JID, on bool) (before, after types.Presence) {
	if c.presenceMode() != PresenceWorking {
		return "", ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.typingIn == nil {
		c.typingIn = map[types.JID]bool{}
	}
	was := len(c.typingIn)
	if on {
		c.typingIn[chat] = true
	} else {
		delete(c.typingIn, chat)
	}
	switch now := len(c.typingIn); {
	case was == 0 && now > 0:
		return types.PresenceAvailable, ""
	case was > 0 && now == 0:
		return "", types.PresenceUnavailable
	}
	return "", ""
}

// repliedIn ends a working-mode account's typing in chat once a reply is queued there (the
// host keeps its typing on until the agent's container exits, idle for up to IDLE_TIMEOUT):
// the last chat to stop makes the account offline again. The presence goes out from the
// receipt goroutine, since Send must not wait for the network.
func (c *Channel) repliedIn(chat types.JID) {
	if _, after := c.typingPresence(chat, false); after != "" {
		c.mu.Lock()
		c.offlineDue = true
		c.mu.Unlock()
		c.ringReceipts()
	}
}

// takeOfflineDue reports whether repliedIn asked to go offline and nothing is typing now.
// c.mu is held.
func (c *Channel) takeOfflineDue() bool {
	due := c.offlineDue && len(c.typingIn) == 0
	c.offlineDue = false
	return due
}
