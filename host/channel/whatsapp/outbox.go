package whatsapp

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow/types"
)

const (
	// maxOutbox bounds the messages waiting for a connection; the oldest is dropped (with
	// an error log) when a new one would exceed it.
	maxOutbox = 1000
	// maxSentIDs is how many recent sent message IDs are remembered, so that the receive
	// side knows their echoes as the bot's own.
	maxSentIDs = 512
	// maxAttempts is how often one message is tried before it is dropped, so that a message
	// WhatsApp always refuses cannot hold up the rest of the outbox.
	maxAttempts = 5
	// retryDelay is when a failed send is tried again if no reconnect came first and the
	// client still says it is connected.
	retryDelay = 30 * time.Second
	// sendTimeout bounds one SendMessage (whatsmeow's own default is 75 s).
	sendTimeout = 90 * time.Second
)

// ring wakes the sender goroutine without blocking; wakes coalesce.
func (c *Channel) ring() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sender delivers the outbox. It is the only goroutine that calls SendMessage, so sends
// stay in order, and the only writer of sentIDs. While the channel is not connected it
// waits. After a failed send the message goes back to the head of the outbox and waits
// for the next connection: onConnected clears lastSend, which is how the sender tells a
// connection that came after the failure from wakes by Send (if no Connected event comes,
// it tries again after retryDelay when the client still reports a connection). Each new
// connection it sees (connected after not connected) kicks the group sync.
func (c *Channel) sender(ctx context.Context, syncKick chan<- struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	sent := make([]types.MessageID, 0, maxSentIDs) // sentIDs in the order they were added
	var (
		wasConnected bool
		attempts     int       // failed attempts for the head message
		failedAt     time.Time // lastSend of the failed attempt, until a reconnect clears it
		retryAt      time.Time // when to look at the link again without a Connected event
	)
	for {
		now := time.Now()
		// Asked outside mu: whatsmeow may hold its socket lock while it dispatches events.
		due := !failedAt.IsZero() && !now.Before(retryAt)
		linkUp := due && c.client.IsConnected()
		if due && !linkUp {
			retryAt = now.Add(retryDelay)
		}
		c.mu.Lock()
		if !failedAt.IsZero() && (!c.lastSend.Equal(failedAt) || linkUp) {
			failedAt = time.Time{} // reconnected since the failure, or the link is still up
		}
		connected := c.connected && !c.closed
		if connected && !wasConnected {
			select {
			case syncKick <- struct{}{}:
			default:
			}
		}
		wasConnected = connected
		var (
			msg   outMsg
			have  bool
			delay time.Duration
		)
		switch {
		case !failedAt.IsZero():
			delay = retryAt.Sub(now)
		case connected && len(c.outbox) > 0:
			if wait := c.lastSend.Add(c.opts.MinSendInterval).Sub(now); wait > 0 {
				delay = wait
			} else {
				msg, have = c.outbox[0], true
				c.outbox = c.outbox[1:]
				c.lastSend = now
			}
		}
		c.mu.Unlock()

		if have {
			if c.deliver(ctx, msg, &sent) {
				attempts = 0
				continue
			}
			if ctx.Err() != nil {
				c.requeue(msg)
				return
			}
			attempts++
			if attempts >= maxAttempts {
				c.log.Error("dropping a message WhatsApp refused repeatedly", "chat", msg.jid.String(), "attempts", attempts)
				attempts = 0
			} else {
				c.requeue(msg)
			}
			c.mu.Lock()
			if c.lastSend.Equal(now) { // no reconnect during the send: wait for one
				failedAt, retryAt = now, time.Now().Add(retryDelay)
			}
			c.mu.Unlock()
			continue
		}

		var tick <-chan time.Time
		if delay > 0 {
			timer.Reset(delay)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-tick:
		}
		if tick != nil && !timer.Stop() {
			select { // drain a fire that raced with the wake
			case <-timer.C:
			default:
			}
		}
	}
}

// deliver sends one message and records its ID; false when sending failed.
func (c *Channel) deliver(ctx context.Context, msg outMsg, sent *[]types.MessageID) bool {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	resp, err := c.client.SendMessage(sctx, msg.jid, c.compose(sctx, msg))
	if err != nil {
		c.log.Warn("send failed; the message stays queued until the next connection", "chat", msg.jid.String(), "err", err)
		return false
	}
	if resp.ID == "" {
		return true
	}
	c.mu.Lock()
	c.sentIDs[resp.ID] = true
	*sent = append(*sent, resp.ID)
	if len(*sent) > maxSentIDs {
		delete(c.sentIDs, (*sent)[0])
		*sent = append((*sent)[:0], (*sent)[1:]...)
	}
	c.mu.Unlock()
	return true
}

// requeue puts a message back at the head of the outbox.
func (c *Channel) requeue(msg outMsg) {
	c.mu.Lock()
	c.outbox = append([]outMsg{msg}, c.outbox...)
	c.mu.Unlock()
}
