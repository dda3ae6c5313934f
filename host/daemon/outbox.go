package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// Outbox retry delays: a chat whose channel refused a message is tried again after
// outboxRetryMin, doubling up to outboxRetryMax, and at once when anything new is queued.
const (
	outboxRetryMin = 2 * time.Second
	outboxRetryMax = 5 * time.Minute
	// outboxKeep is how long sent messages stay in the outbox (the messages table keeps
	// the conversation; the outbox has only to outlive a crash).
	outboxKeep = 7 * 24 * time.Hour
)

// queueSend stores a message for jid and wakes the sender: once this returns nil, the
// message will be sent, even if the host dies first.
func (d *Daemon) queueSend(ctx context.Context, jid, text, origin string) error {
	if _, err := d.cfg.Store.QueueOutgoing(ctx, []store.Outgoing{d.outgoing(jid, text, origin)}, nil); err != nil {
		return err
	}
	d.wakeOutbox()
	return nil
}

// notice sends an agent's notice (a line that answers nothing) to the chat, one line at
// most: the agent's text is hostile input, so it is capped and not allowed to pass as more.
func (d *Daemon) notice(ctx context.Context, jid, folder, text string) {
	text, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
	if len(text) > maxNotice {
		text = strings.ToValidUTF8(text[:maxNotice], "")
	}
	if text == "" {
		return
	}
	if err := d.queueSend(ctx, jid, text, "notice:"+folder); err != nil {
		d.log.Error("notice not stored for sending", "chat", jid, "error", err)
	}
}

// maxNotice bounds a notice's length in bytes.
const maxNotice = 300

func (d *Daemon) outgoing(jid, text, origin string) store.Outgoing {
	return store.Outgoing{ChatJID: jid, Text: text, Origin: origin, CreatedAt: store.Timestamp(d.now())}
}

func (d *Daemon) wakeOutbox() {
	select {
	case d.outboxWake <- struct{}{}:
	default:
	}
}

// runOutbox hands stored messages to their channels, oldest first, until ctx ends; a chat
// whose send failed keeps its order and is retried with backoff. done is closed on return.
func (d *Daemon) runOutbox(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	if n, err := d.cfg.Store.PruneOutgoing(ctx, store.Timestamp(d.now().Add(-outboxKeep))); err != nil {
		d.log.Warn("outbox: prune", "error", err)
	} else if n > 0 {
		d.log.Debug("outbox: pruned sent messages", "count", n)
	}
	delay := outboxRetryMin
	for {
		failed := d.flushOutbox(ctx)
		var retry <-chan time.Time
		if failed {
			t := time.NewTimer(delay)
			retry = t.C
			defer t.Stop()
			delay = min(delay*2, outboxRetryMax)
		} else {
			delay = outboxRetryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-d.outboxWake:
		case <-retry:
		}
	}
}

// flushOutbox makes one pass over the unsent messages and reports whether any failed.
func (d *Daemon) flushOutbox(ctx context.Context) bool {
	d.outboxMu.Lock()
	defer d.outboxMu.Unlock()
	unsent, err := d.cfg.Store.UnsentOutgoing(ctx)
	if err != nil {
		d.log.Error("outbox: read", "error", err)
		return true
	}
	blocked := map[string]bool{} // chats with a failure in this pass: later ones wait
	for _, m := range unsent {
		if blocked[m.ChatJID] || ctx.Err() != nil {
			continue
		}
		if err := d.send(ctx, m.ChatJID, m.Text, m.ReplyTo); err != nil {
			blocked[m.ChatJID] = true
			d.log.Warn("outbox: not delivered yet; will retry", "chat", m.ChatJID, "id", m.ID, "attempt", m.Attempts+1, "error", err)
			if err := d.cfg.Store.MarkOutgoingFailed(context.WithoutCancel(ctx), m.ID, err.Error()); err != nil {
				d.log.Error("outbox: record failure", "id", m.ID, "error", err)
			}
			continue
		}
		if err := d.cfg.Store.MarkOutgoingSent(context.WithoutCancel(ctx), m.ID, store.Timestamp(d.now())); err != nil {
			d.log.Error("outbox: record delivery", "id", m.ID, "error", err)
		}
		if d.cfg.OnSent != nil {
			d.cfg.OnSent(m)
		}
	}
	return len(blocked) > 0
}
