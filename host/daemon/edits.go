package daemon

import (
	"context"
	"fmt"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// The daemon takes edits and revokes from channels (channel.EditSink).
var _ channel.EditSink = (*Daemon)(nil)

// OnMessageEdit stores a message's new text in place. It never starts a run: a message
// already answered is not answered again, and one still pending is read with its new text
// when its turn comes.
func (d *Daemon) OnMessageEdit(ctx context.Context, chatJID, id, sender, content string) error {
	found, err := d.cfg.Store.EditMessage(ctx, chatJID, id, sender, content, store.Timestamp(d.now()))
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	if !found {
		d.log.Debug("edit of a message not stored (or not its sender's); ignored", "chat", chatJID, "id", id)
	}
	return nil
}

// OnMessageRevoke marks a message deleted for everyone: it leaves the chat's history that
// later prompts include. It never starts a run.
func (d *Daemon) OnMessageRevoke(ctx context.Context, chatJID, id, sender string) error {
	found, err := d.cfg.Store.DeleteMessage(ctx, chatJID, id, sender, store.Timestamp(d.now()))
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if found {
		d.log.Info("a message was deleted for everyone; later prompts leave it out", "chat", chatJID, "id", id)
	}
	return nil
}

// markRead tells the chat's channel that msgs were taken into an agent's run, when it has
// read receipts (channel.Reader); best effort.
func (d *Daemon) markRead(ctx context.Context, jid string, msgs []store.Message) {
	ch, ok := d.chans.Owner(jid)
	if !ok {
		return
	}
	r, ok := ch.(channel.Reader)
	if !ok {
		return
	}
	if err := r.MarkRead(ctx, jid, msgs); err != nil {
		d.log.Debug("read receipts", "chat", jid, "error", err)
	}
}
