package whatsapp

import "github.com/nanoclaw/nanoclaw-go/host/channel"

var _ channel.StateReporter = (*Channel)(nil)

// connState is what the channel remembers about its connection for State, beyond whether
// it is connected now. Guarded by Channel.mu.
type connState struct {
	everConnected bool // a connection was up once: a drop since is a reconnect
	loggedOut     bool // WhatsApp removed this linked device: pairing is needed again
}

// State says how the WhatsApp connection is, for `nanoclaw status`: connected while the
// stream is up; connecting until the first connection; reconnecting after a drop (whatsmeow
// retries on its own); pairing needed once WhatsApp logged this device out; disconnected
// once stopped for any other reason.
func (c *Channel) State() channel.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.conn.loggedOut:
		return channel.StatePairingNeeded
	case c.closed:
		return channel.StateDisconnected
	case c.connected:
		return channel.StateConnected
	case c.conn.everConnected:
		return channel.StateReconnecting
	}
	return channel.StateConnecting
}
