package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/queue"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// Status is what `nanoclaw status` shows of a running host.
type Status struct {
	Groups   []GroupStatus       `json:"groups"`
	Running  map[string]running  `json:"running"` // by group folder
	Queue    []queue.GroupStatus `json:"queue"`
	Waiting  []string            `json:"waiting"`
	Channels []ChannelStatus     `json:"channels"`
	Errors   []store.IPCRefusal  `json:"recentIpcErrors"`
	Time     time.Time           `json:"time"`
}

// ChannelStatus is one channel in Status: connected ones with their state, and those whose
// Connect failed (StateNotConnected, with the error as Detail).
type ChannelStatus struct {
	Name   string        `json:"name"`
	State  channel.State `json:"state"`
	Detail string        `json:"detail,omitempty"`
}

// GroupStatus is one registered group in Status.
type GroupStatus struct {
	JID, Name, Folder string
	IsMain            bool
	RequiresTrigger   bool
}

// Status reports the host's state.
func (d *Daemon) Status(ctx context.Context) Status {
	s := Status{Running: map[string]running{}, Queue: d.queue.Status(), Waiting: d.queue.Waiting(), Time: d.now()}
	var err error
	if s.Errors, err = d.cfg.Store.RecentIPCRefusals(ctx, 20); err != nil {
		d.log.Warn("status: refused IPC requests", "error", err)
	}
	for _, g := range d.groups.All() {
		s.Groups = append(s.Groups, GroupStatus{JID: g.JID, Name: g.Name, Folder: g.Folder, IsMain: g.IsMain, RequiresTrigger: g.RequiresTrigger})
	}
	for _, ch := range d.chans.All() {
		state := channel.StateConnected
		if r, ok := ch.(channel.StateReporter); ok {
			state = r.State()
		}
		s.Channels = append(s.Channels, ChannelStatus{Name: ch.Name(), State: state})
	}
	d.mu.Lock()
	for _, f := range d.chanFailures {
		// One that failed at start and connected later (ConnectChannel) is listed once.
		if !slices.ContainsFunc(s.Channels, func(c ChannelStatus) bool { return c.Name == f.Name }) {
			s.Channels = append(s.Channels, f)
		}
	}
	for k, v := range d.running {
		s.Running[k] = v
	}
	d.mu.Unlock()
	return s
}
