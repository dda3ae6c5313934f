package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// The daemon takes edits and revokes from channels (channel.EditSink).
var _ channel.EditSink = (*Daemon)(nil)

// routedID is the ID of the copy of message id from chatJID that a route plugin delivered
// to another group's chat.
func routedID(chatJID, id string) string { return "routed:" + chatJID + ":" + id }

// OnMessageEdit stores a message's new text in place, and in the copy a route plugin gave
// another group. It never starts a run: a message already answered is not answered again,
// and one still pending is read with its new text when its turn comes.
func (d *Daemon) OnMessageEdit(ctx context.Context, chatJID, id, sender, content string) error {
	now := store.Timestamp(d.now())
	found, err := d.cfg.Store.EditMessage(ctx, chatJID, id, sender, content, now)
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	if !found {
		d.log.Debug("edit of a message not stored (or not its sender's); ignored", "chat", chatJID, "id", id)
		return nil
	}
	if _, err := d.cfg.Store.EditMessage(ctx, "", routedID(chatJID, id), sender, content, now); err != nil {
		return fmt.Errorf("edit routed copy: %w", err)
	}
	return nil
}

// OnMessageRevoke marks a message deleted for everyone, and the copy a route plugin gave
// another group: it leaves the history that later prompts include, and the files that came
// with it leave the group folder they were kept in. It never starts a run.
func (d *Daemon) OnMessageRevoke(ctx context.Context, chatJID, id, sender string) error {
	now := store.Timestamp(d.now())
	old, found, err := d.cfg.Store.DeleteMessage(ctx, chatJID, id, sender, now)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if !found {
		return nil
	}
	if _, _, err := d.cfg.Store.DeleteMessage(ctx, "", routedID(chatJID, id), sender, now); err != nil {
		return fmt.Errorf("revoke routed copy: %w", err)
	}
	d.removeFiles(old)
	d.log.Info("a message was deleted for everyone; later prompts leave it out", "chat", chatJID, "id", id)
	return nil
}

// removeFiles removes a deleted message's attachments from the group folder they were
// saved in: the chat's group, or the one a route plugin delivered the message to. Best
// effort: a file the agent already moved or removed is no matter.
func (d *Daemon) removeFiles(m store.Message) {
	folder, routed := strings.CutPrefix(m.HandledAs, "routed:")
	if !routed {
		g, ok := d.groups.ByJID(m.ChatJID)
		if !ok {
			return
		}
		folder = g.Folder
	}
	for _, a := range m.Attachments {
		if a.Path == "" {
			continue
		}
		if err := d.cfg.Agents.RemoveFile(folder, filepath.FromSlash(a.Path)); err != nil {
			d.log.Warn("removing a deleted message's file", "group", folder, "path", a.Path, "error", err)
		}
	}
}

// markRead tells the chat's channel that msgs were taken into an agent's run, when it has
// read receipts (channel.Reader); best effort. jid is the chat whose run took them.
func (d *Daemon) markRead(ctx context.Context, _ string, msgs []store.Message) {
	// A routed copy is read where it was written: its origin chat, under its own ID.
	byChat := map[string][]store.Message{}
	var chats []string
	for _, m := range msgs {
		if rest, ok := strings.CutPrefix(m.ID, "routed:"); ok {
			i := strings.LastIndex(rest, ":")
			if i <= 0 {
				continue
			}
			m.ChatJID, m.ID = rest[:i], rest[i+1:]
		}
		if _, seen := byChat[m.ChatJID]; !seen {
			chats = append(chats, m.ChatJID)
		}
		byChat[m.ChatJID] = append(byChat[m.ChatJID], m)
	}
	for _, chat := range chats {
		owner, ok := d.chans.Owner(chat)
		if !ok {
			continue
		}
		r, ok := owner.(channel.Reader)
		if !ok {
			continue
		}
		if err := r.MarkRead(ctx, chat, byChat[chat]); err != nil {
			d.log.Debug("read receipts", "chat", chat, "error", err)
		}
	}
}
