package whatsapp

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// syncTimeout bounds one group sync.
const syncTimeout = 2 * time.Minute

// SyncGroups stores the names of all joined groups through the sink. Unless force, it does
// nothing when the last successful sync is more recent than GroupSyncEvery. Groups without
// a name are skipped (their stored name is kept). A failure leaves the last sync time, so
// the next connection tries again.
func (c *Channel) SyncGroups(ctx context.Context, force bool) error {
	now := c.opts.Now()
	c.mu.Lock()
	last := c.lastSync
	c.mu.Unlock()
	if !force && !last.IsZero() && now.Sub(last) < c.opts.GroupSyncEvery {
		c.log.Debug("group names synced recently; skipping", "last", last)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	groups, err := c.client.GetJoinedGroups(ctx)
	if err != nil {
		return fmt.Errorf("whatsapp group sync: %w", err)
	}
	n := 0
	for _, g := range groups {
		if g == nil || g.JID.IsEmpty() || g.Name == "" {
			continue
		}
		if err := c.storeGroupName(ctx, g.JID, g.Name); err != nil {
			c.log.Warn("storing a group name", "chat", g.JID.String(), "err", err)
			continue
		}
		n++
	}
	c.mu.Lock()
	c.lastSync = now
	c.mu.Unlock()
	c.log.Info("group names synced", "groups", n)
	return nil
}

// onGroupName stores a group's new name (a rename, or a group we joined).
func (c *Channel) onGroupName(jid types.JID, name string) {
	if jid.IsEmpty() || name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sinkTimeout)
	defer cancel()
	if err := c.storeGroupName(ctx, jid, name); err != nil {
		c.log.Warn("storing a group name", "chat", jid.String(), "err", err)
	}
}

func (c *Channel) storeGroupName(ctx context.Context, jid types.JID, name string) error {
	return c.opts.Sink.OnChatMetadata(ctx, channel.ChatMeta{JID: jid.ToNonAD().String(), Name: name, Channel: Name, IsGroup: true})
}

// syncLoop syncs group names when the sender reports a new connection (unless the last
// sync is recent) and every GroupSyncEvery while connected.
func (c *Channel) syncLoop(ctx context.Context, kick <-chan struct{}) {
	t := time.NewTicker(c.opts.GroupSyncEvery)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
			force = true
		}
		c.mu.Lock()
		connected := c.connected && !c.closed
		c.mu.Unlock()
		if !connected {
			continue
		}
		if err := c.SyncGroups(ctx, force); err != nil {
			c.log.Warn("group sync failed; retrying on the next connection", "err", err)
		}
	}
}
