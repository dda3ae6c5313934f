package whatsapp

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// The channel sends read receipts (channel.Reader).
var _ channel.Reader = (*Channel)(nil)

const (
	// maxSeen is how many received messages' original addresses are remembered for read
	// receipts (a LID-addressed group wants its receipt addressed the same way).
	maxSeen = 4096
	// maxUnread bounds receipts waiting to be sent; the oldest are dropped.
	maxUnread = 512
	// receiptTimeout bounds sending one batch of receipts.
	receiptTimeout = 90 * time.Second
)

// seenAddr is where a received message came from, as WhatsApp addressed it.
type seenAddr struct{ chat, sender types.JID }

// receipt is one MarkRead call: messages from one sender in one chat.
type receipt struct {
	ids          []types.MessageID
	chat, sender types.JID
}

// remember notes where a received message came from, for its read receipt.
func (c *Channel) remember(id types.MessageID, chat, sender types.JID) {
	if id == "" {
		return
	}
	if chat.IsBroadcastList() {
		chat = sender // a broadcast list's message is read in the sender's DM
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[types.MessageID]seenAddr, maxSeen)
	}
	if _, ok := c.seen[id]; !ok {
		if len(c.seenOrder) >= maxSeen {
			delete(c.seen, c.seenOrder[0])
			c.seenOrder = c.seenOrder[1:]
		}
		c.seenOrder = append(c.seenOrder, id)
	}
	c.seen[id] = seenAddr{chat: chat.ToNonAD(), sender: sender.ToNonAD()}
}

// MarkRead queues read receipts for msgs in chatJID, one per sender as WhatsApp wants, and
// returns at once: the receipt goroutine sends them while connected (whatsmeow may first
// ask the server for the account's privacy settings, a network round trip the host's run
// must not wait for). The assistant's own messages and the account's own get none.
// Receipts queued while disconnected go out on the next connection; the oldest are dropped
// past maxUnread.
func (c *Channel) MarkRead(ctx context.Context, chatJID string, msgs []store.Message) error {
	chat, err := parseChatJID(chatJID)
	if err != nil {
		return err
	}
	rs := c.receipts(chat, chatJID, msgs)
	if len(rs) == 0 {
		return nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("mark read in %s: %w", chatJID, ErrStopped)
	}
	c.unread = append(c.unread, rs...)
	if over := len(c.unread) - maxUnread; over > 0 {
		c.unread = c.unread[over:]
	}
	c.mu.Unlock()
	c.ringReceipts()
	return nil
}

// ringReceipts wakes the receipt goroutine without blocking.
func (c *Channel) ringReceipts() {
	select {
	case c.readWake <- struct{}{}:
	default:
	}
}

// receiptLoop sends queued receipts while connected, until ctx ends.
func (c *Channel) receiptLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.readWake:
		}
		c.mu.Lock()
		if !c.connected || c.closed {
			n := len(c.unread)
			c.mu.Unlock()
			if n > 0 {
				c.log.Debug("read receipts wait for the connection", "count", n)
			}
			continue // the next Connected rings again
		}
		rs := c.unread
		c.unread = nil
		offline := c.takeOfflineDue()
		c.mu.Unlock()
		if offline {
			c.sendPresence(types.PresenceUnavailable)
		}
		if len(rs) == 0 {
			continue
		}
		send, cancel := context.WithTimeout(ctx, receiptTimeout)
		if err := c.sendReceipts(send, rs); err != nil {
			c.log.Debug("read receipts not sent", "err", err)
		}
		cancel()
	}
}

// receipts groups msgs by sender, in the order they first appear, addressed as they came.
func (c *Channel) receipts(chat types.JID, chatJID string, msgs []store.Message) []receipt {
	var rs []receipt
	at := map[types.JID]int{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		if m.ChatJID != chatJID || m.IsFromMe || m.IsBotMessage || m.ID == "" {
			continue
		}
		id := types.MessageID(m.ID)
		addr, ok := c.seen[id]
		if !ok {
			s, err := types.ParseJID(m.Sender)
			if err != nil {
				continue
			}
			addr = seenAddr{chat: chat, sender: s.ToNonAD()}
		}
		i, ok := at[addr.sender]
		if !ok || rs[i].chat != addr.chat {
			at[addr.sender] = len(rs)
			rs = append(rs, receipt{chat: addr.chat, sender: addr.sender})
			i = len(rs) - 1
		}
		rs[i].ids = append(rs[i].ids, id)
	}
	return rs
}

// sendReceipts sends receipts, reporting the first failure.
func (c *Channel) sendReceipts(ctx context.Context, rs []receipt) error {
	var first error
	now := c.opts.Now()
	for _, r := range rs {
		if err := c.client.MarkRead(ctx, r.ids, now, r.chat, r.sender); err != nil && first == nil {
			first = fmt.Errorf("mark read in %s: %w", r.chat, err)
		}
	}
	return first
}
