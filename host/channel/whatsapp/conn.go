package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"
)

// Errors the channel reports on Fatal.
var (
	// ErrLoggedOut means WhatsApp removed this linked device; whatsmeow has deleted the
	// session, so the host must be paired again.
	ErrLoggedOut = errors.New("WhatsApp logged this device out: pair again with `nanoclaw auth`")
	// ErrReplaced means another process connected with the same session.
	ErrReplaced = errors.New("another process is using this WhatsApp session; stopping")
	// ErrOutdated means WhatsApp refuses this client version.
	ErrOutdated = errors.New("WhatsApp says this client version is outdated: update nanoclaw")
)

// Connect starts the sender and the group sync, then connects. It is called once; the
// factory only builds a channel for a paired session. whatsmeow reconnects on its own
// with a growing delay (and, on a *whatsmeow.Client, also when the first connection fails
// for a network reason); each failed attempt is logged.
func (c *Channel) Connect(ctx context.Context) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("whatsapp connect: %w", ErrStopped)
	}
	if cli, ok := c.client.(*whatsmeow.Client); ok {
		c.configureReconnect(cli)
	}
	go c.run(context.WithoutCancel(ctx))
	if err := c.client.Connect(); err != nil {
		_ = c.Disconnect(ctx)
		return fmt.Errorf("whatsapp connect: %w", err)
	}
	return nil
}

// configureReconnect turns on whatsmeow's automatic reconnection and logs its failures.
func (c *Channel) configureReconnect(cli *whatsmeow.Client) {
	cli.EnableAutoReconnect = true
	cli.InitialAutoReconnect = true
	cli.AutoReconnectHook = func(err error) bool {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return false
		}
		c.log.Warn("WhatsApp reconnect failed; retrying with backoff", "attempt", cli.AutoReconnectErrors, "err", err)
		return true
	}
}

// run is the channel's background work: the sender, and the group sync it kicks on each
// new connection. It ends when stop is closed, after both have returned.
func (c *Channel) run(base context.Context) {
	defer close(c.done)
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { c.syncLoop(ctx, kick) })
	wg.Go(func() { c.receiptLoop(ctx) })
	wg.Go(func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	})
	c.sender(ctx, kick)
	cancel()
	wg.Wait()
}

// Disconnect stops sending and syncing and closes the connection. It may be called more
// than once. Messages still in the outbox are lost (logged). It waits for the background
// goroutines, or for ctx when Connect was never called.
func (c *Channel) Disconnect(ctx context.Context) error {
	c.mu.Lock()
	c.closed, c.connected = true, false
	first := false
	select {
	case <-c.stop:
	default:
		close(c.stop)
		first = true
	}
	pending := len(c.outbox)
	c.mu.Unlock()
	if first {
		c.client.Disconnect()
		if pending > 0 {
			c.log.Warn("disconnecting with unsent messages; they are dropped", "count", pending)
		}
	}
	select {
	case <-c.done:
		c.storeOnce.Do(func() {
			if c.opts.Store != nil {
				if err := c.opts.Store.Close(); err != nil {
					c.log.Warn("closing the WhatsApp store", "err", err)
				}
			}
		})
		return nil
	case <-ctx.Done():
		return fmt.Errorf("whatsapp disconnect: %w", ctx.Err())
	}
}

// onConnected marks the channel connected and wakes the sender, which flushes the outbox
// and kicks a group sync when the last one is older than GroupSyncEvery. Clearing lastSend
// tells the sender a new connection came (a message that failed is tried again at once);
// it also means the first send on a new connection is not spaced from the last one on the
// old connection.
func (c *Channel) onConnected() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.connected = true
	c.conn.everConnected = true
	c.lastSend = time.Time{}
	pending := len(c.outbox)
	c.mu.Unlock()
	c.log.Info("connected to WhatsApp", "queued", pending)
	c.ring()
}

// onDisconnected holds sending until the next connection; whatsmeow reconnects.
func (c *Channel) onDisconnected() {
	c.mu.Lock()
	c.connected = false
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.log.Warn("disconnected from WhatsApp; reconnecting automatically")
	}
}

// onLoggedOut stops the channel for good: the session is gone.
func (c *Channel) onLoggedOut(e *events.LoggedOut) {
	reason := ""
	if e != nil && e.OnConnect {
		reason = e.Reason.String()
	}
	c.log.Error(ErrLoggedOut.Error(), "reason", reason)
	c.mu.Lock()
	c.conn.loggedOut = true
	c.mu.Unlock()
	c.stopFatal(ErrLoggedOut)
}

// onStreamReplaced stops the channel for good and disconnects without reconnecting.
func (c *Channel) onStreamReplaced() {
	c.log.Error(ErrReplaced.Error())
	c.stopFatal(ErrReplaced)
	c.client.Disconnect()
}

// stopFatal stops sending and reports err on Fatal (once; later reasons are dropped).
func (c *Channel) stopFatal(err error) {
	c.mu.Lock()
	c.closed, c.connected = true, false
	c.mu.Unlock()
	select {
	case c.fatal <- err:
	default:
	}
	c.ring()
}

// handleConnEvent logs the connection events events.go does not route.
func (c *Channel) handleConnEvent(evt any) {
	switch e := evt.(type) {
	case *events.KeepAliveTimeout:
		c.log.Warn("WhatsApp keepalive timed out", "errors", e.ErrorCount)
	case *events.KeepAliveRestored:
		c.log.Info("WhatsApp keepalive restored")
	case *events.TemporaryBan:
		c.log.Error("WhatsApp temporarily banned this account", "ban", e.String())
	case *events.ConnectFailure:
		c.log.Error("WhatsApp refused the connection", "reason", e.Reason.String(), "message", e.Message)
	case *events.ClientOutdated:
		c.log.Error(ErrOutdated.Error())
		c.stopFatal(ErrOutdated)
	}
}
