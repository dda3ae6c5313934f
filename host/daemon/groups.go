package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/groupreg"
	"github.com/nanoclaw/nanoclaw-go/host/memory"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// Groups is the registered groups, cached from the store: every inbound message, IPC
// request and plugin group_lookup reads them, and they change only on registration.
// It is the plugins' group directory, so it exists before the plugin registry does.
type Groups struct {
	mu       sync.RWMutex
	byJID    map[string]store.Group
	byFolder map[string]store.Group
}

// NewGroups returns an empty directory; Load fills it.
func NewGroups() *Groups {
	return &Groups{byJID: map[string]store.Group{}, byFolder: map[string]store.Group{}}
}

// Load replaces the cache with the store's registered groups.
func (g *Groups) Load(ctx context.Context, st *store.Store) error {
	list, err := st.RegisteredGroups(ctx)
	if err != nil {
		return fmt.Errorf("load registered groups: %w", err)
	}
	byJID, byFolder := map[string]store.Group{}, map[string]store.Group{}
	for _, r := range list {
		byJID[r.JID], byFolder[r.Folder] = r, r
	}
	g.mu.Lock()
	g.byJID, g.byFolder = byJID, byFolder
	g.mu.Unlock()
	return nil
}

// ByJID finds a registered chat.
func (g *Groups) ByJID(jid string) (store.Group, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.byJID[jid]
	return r, ok
}

// ByFolder finds a registered group by its folder.
func (g *Groups) ByFolder(folder string) (store.Group, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.byFolder[folder]
	return r, ok
}

// All lists the registered groups.
func (g *Groups) All() []store.Group {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]store.Group, 0, len(g.byJID))
	for _, r := range g.byJID {
		out = append(out, r)
	}
	return out
}

// LookupGroup answers the plugins' group_lookup host function (by chat JID).
func (g *Groups) LookupGroup(key []byte) (protocol.Group, bool) {
	g.mu.RLock()
	r, ok := g.byJID[string(key)]
	g.mu.RUnlock()
	if !ok {
		return protocol.Group{}, false
	}
	return toProtocol(r), true
}

// TryLookupGroup answers group_lookup without waiting when no reload holds the index
// (plugin.GroupTryer), so a plugin's lookup needs no goroutine hand-off.
func (g *Groups) TryLookupGroup(key []byte) (protocol.Group, bool, bool) {
	if !g.mu.TryRLock() {
		return protocol.Group{}, false, false
	}
	r, ok := g.byJID[string(key)]
	g.mu.RUnlock()
	if !ok {
		return protocol.Group{}, false, true
	}
	return toProtocol(r), true, true
}

// GroupByFolder lets the route chain tell whether a delivery targets the main group
// (plugin.FolderDirectory).
func (g *Groups) GroupByFolder(folder string) (protocol.Group, bool) {
	r, ok := g.ByFolder(folder)
	if !ok {
		return protocol.Group{}, false
	}
	return toProtocol(r), true
}

func toProtocol(r store.Group) protocol.Group {
	return protocol.Group{JID: r.JID, Folder: r.Folder, Name: r.Name, Trigger: r.Trigger, RequiresTrigger: r.RequiresTrigger, IsMain: r.IsMain}
}

// containerConfig is NanoClaw's per-group containerConfig JSON.
type containerConfig struct {
	AdditionalMounts []struct {
		HostPath      string `json:"hostPath"`
		ContainerPath string `json:"containerPath"`
		ReadOnly      *bool  `json:"readonly"`
	} `json:"additionalMounts"`
	Timeout int64 `json:"timeout"` // milliseconds
}

// parseContainerConfig reads a group's container configuration; nil means none.
func parseContainerConfig(raw json.RawMessage) (containerConfig, []sandbox.ExtraMount, error) {
	var c containerConfig
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, nil, fmt.Errorf("containerConfig: %w", err)
	}
	var extra []sandbox.ExtraMount
	for _, m := range c.AdditionalMounts {
		ro := m.ReadOnly == nil || *m.ReadOnly // NanoClaw's default is read-only
		extra = append(extra, sandbox.ExtraMount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: ro})
	}
	return c, extra, nil
}

// ErrInvalidFolder is returned for a folder that breaks the folder rule.
var ErrInvalidFolder = errors.New(`invalid group folder: want ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$, and "global" is reserved`)

// Register records a group and prepares its folders: groups/<folder>/ and its session store
// (owned by the agent's user), its IPC directories, and its CLAUDE.md from the main or group
// template (never overwriting one that exists), with the assistant's name in place of the
// template's "Andy"; the global memory too if it is missing.
func (d *Daemon) Register(ctx context.Context, g store.Group) error {
	if !ipcpolicy.ValidFolder(g.Folder) {
		return fmt.Errorf("%w: %q", ErrInvalidFolder, g.Folder)
	}
	if g.Trigger == "" {
		g.Trigger = "@" + d.cfg.Settings.AssistantName
	}
	if err := groupreg.CheckTrigger(g.Trigger); err != nil {
		return err
	}
	// Local and WhatsApp ids are checked by their form; an id of another channel must at
	// least belong to a channel this host runs.
	if err := groupreg.CheckJID(g.JID); err != nil {
		if _, owned := d.chans.Owner(g.JID); !errors.Is(err, groupreg.ErrOtherChannel) || !owned {
			return err
		}
	}
	// A channel may file a chat under another form of its id (WhatsApp: a LID under its
	// phone number); register it the way its messages will arrive.
	if ch, ok := d.chans.Owner(g.JID); ok {
		if c, ok := ch.(interface {
			CanonicalJID(context.Context, string) string
		}); ok {
			g.JID = c.CanonicalJID(ctx, g.JID)
		}
	}
	if g.AddedAt == "" {
		g.AddedAt = store.Timestamp(d.now())
	}
	if other, ok := d.groups.ByFolder(g.Folder); ok && other.JID != g.JID {
		return fmt.Errorf("folder %q already belongs to %s", g.Folder, other.JID)
	}
	if err := PrepareGroupDirs(d.cfg.Agents, g.Folder, g.IsMain, d.cfg.Settings.AssistantName); err != nil {
		return err
	}
	if err := d.cfg.Store.SetRegisteredGroup(ctx, g); err != nil {
		return err
	}
	if err := d.groups.Load(ctx, d.cfg.Store); err != nil {
		return err
	}
	if _, err := d.sockets.Listen(g.Folder); err != nil {
		d.log.Error("agent socket", "group", g.Folder, "error", err)
	}
	d.log.Info("group registered", "jid", g.JID, "folder", g.Folder, "main", g.IsMain)
	return nil
}

// PrepareGroupDirs makes a group's folder and session store under root through agents,
// owned by the agent's user, and the memory it is missing from the templates (memory.Ensure:
// its own CLAUDE.md from main's or the group template, and the global one). Nothing is
// followed that an agent could have linked: a link where memory goes is left alone (and
// logged), a linked template is an error. It runs at registration, before every run (so a
// fresh checkout, or memory a user deleted, gets its files on first use) and is what
// `nanoclaw groups add` runs without a host.
func PrepareGroupDirs(agents *agentfs.FS, folder string, isMain bool, assistantName string) error {
	if !ipcpolicy.ValidFolder(folder) {
		return fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	if err := agents.PrepareGroup(folder, isMain); err != nil {
		return fmt.Errorf("group %s: %w", folder, err)
	}
	if err := memory.Ensure(agents, folder, isMain, assistantName); err != nil {
		return fmt.Errorf("group %s: %w", folder, err)
	}
	return nil
}

// ReloadGroups re-reads the registered groups after another process (the groups CLI)
// changed them.
func (d *Daemon) ReloadGroups(ctx context.Context) error {
	if err := d.groups.Load(ctx, d.cfg.Store); err != nil {
		return err
	}
	for _, g := range d.groups.All() {
		if _, err := d.sockets.Listen(g.Folder); err != nil {
			d.log.Error("agent socket", "group", g.Folder, "error", err)
		}
	}
	return nil
}
