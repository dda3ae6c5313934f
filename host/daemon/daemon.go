// Package daemon is the host: it ties channels, the store, the policy plugins, the group
// queue, the sandbox, the agent sockets and the scheduler into `nanoclaw run`.
//
// A message travels channel → OnMessage (stored, routed by the route plugin) → the group
// queue → a container → replies stored in the outbox → the owning channel. Nothing polls: a
// stored message is handed on at once, agents' IPC requests arrive on their sockets, tasks
// through a timer, outgoing messages on a wake-up.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/ipc"
	"github.com/nanoclaw/nanoclaw-go/host/media"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/queue"
	"github.com/nanoclaw/nanoclaw-go/host/scheduler"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// Policy is the plugin registry's decision side.
type Policy interface {
	DecideRoute(ctx context.Context, req *protocol.RouteRequest) plugin.RouteDecision
	DecideIPC(ctx context.Context, req *protocol.IPCRequest) plugin.IPCDecision
	DecideMount(ctx context.Context, req *protocol.MountRequest) plugin.MountDecision
}

// Config is the daemon's dependencies; the caller opens them and closes them after Run.
type Config struct {
	Root string // the project checkout
	// Agents is the agent-writable directories (group folders, global, session stores) and
	// the user agents run as; every host access to them goes through it.
	Agents   *agentfs.FS
	Settings config.Settings
	Store    *store.Store
	Groups   *Groups // the plugins' group directory, shared with the plugin loader
	Policy   Policy
	Runtime  sandbox.Runtime
	Proxy    *credproxy.Proxy
	// Channels are built in order with the daemon as their Sink; one returning (nil, nil)
	// is not configured and skipped. At least one must connect.
	Channels []channel.Factory
	Limits   sandbox.Limits
	// Getenv reads channel settings (tokens, rate limits); nil reads nothing.
	Getenv func(string) string
	Log    hclog.Logger
	Now    func() time.Time
	// RetryBase is the first retry delay of a failed message run (default 5 s, doubling);
	// tests shorten it.
	RetryBase time.Duration
	// OnIPC, when set, hears every IPC request's fate (tests and benchmarks).
	OnIPC func(ipc.Outcome)
	// OnAck, when set, hears each acknowledgement of follow-ups by a running agent.
	OnAck func(group, run string, ids []int64)
	// OnSent, when set, hears each outgoing message a channel took.
	OnSent func(store.Outgoing)
	// OnChannels, when set, is called once the channels are connected.
	OnChannels func(*channel.Set)
}

// Daemon is a running host.
type Daemon struct {
	cfg     Config
	log     hclog.Logger
	groups  *Groups
	queue   *queue.Queue
	sched   *scheduler.Scheduler
	sockets *agentsock.Server
	chans   *channel.Set
	layout  sandbox.Layout
	answers *answers
	media   *media.Store // files that come with messages, kept in group folders

	pipeMu   sync.Mutex  // orders piping follow-ups against the end of a run
	stopping atomic.Bool // a graceful stop began: no new work is taken

	// killRuns ends every container still running when the shutdown grace is over.
	killCtx  context.Context
	killRuns context.CancelFunc

	chatsMu sync.Mutex
	chats   map[string]chatKey // chats whose metadata is stored as is

	outboxWake chan struct{} // buffered 1

	chanMu  sync.Mutex // one channel connects at a time (startup, a reload after pairing)
	fatalCh chan error // buffered 1: the first channel that stopped for good
	// chanWatch stops, per channel name, the goroutine following that channel's fatal
	// errors, when a new channel of the name replaces it. chanMu is held.
	chanWatch map[string]chan struct{}
	outboxMu  sync.Mutex // one pass over the outbox at a time

	mu           sync.Mutex
	chanFailures []ChannelStatus    // channels whose Connect failed, for status
	running      map[string]running // containers now running, by group folder
	resets       map[string]uint64  // conversation resets per group folder: a run started before one keeps no session

	notified    map[string]string // per chat: the kind of failure it was last told about
	lastFailure map[string]string // per chat: the last transient failure, for the give-up notice
}

// running describes a container in flight, for status.
type running struct {
	JID     string    `json:"jid"`
	Task    string    `json:"task,omitempty"`
	Started time.Time `json:"started"`
}

// New wires a daemon; Run starts it.
func New(cfg Config) (*Daemon, error) {
	if cfg.Store == nil || cfg.Policy == nil || cfg.Runtime == nil || cfg.Proxy == nil || cfg.Agents == nil {
		return nil, errors.New("daemon: Agents, Store, Policy, Runtime and Proxy are required")
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Groups == nil {
		cfg.Groups = NewGroups()
	}
	if cfg.Settings.Location == nil {
		cfg.Settings.Location = time.UTC
	}
	if cfg.Limits == (sandbox.Limits{}) {
		cfg.Limits = sandbox.DefaultLimits()
	}
	d := &Daemon{
		cfg:         cfg,
		log:         cfg.Log,
		groups:      cfg.Groups,
		chans:       channel.NewSet(),
		running:     map[string]running{},
		resets:      map[string]uint64{},
		chats:       map[string]chatKey{},
		notified:    map[string]string{},
		lastFailure: map[string]string{},
		answers:     newAnswers(cfg.Store),
		outboxWake:  make(chan struct{}, 1),
		fatalCh:     make(chan error, 1),
		chanWatch:   map[string]chan struct{}{},
		layout:      sandbox.Layout{ProjectRoot: cfg.Root, DataDir: filepath.Join(cfg.Root, "data"), Agent: cfg.Agents},
	}
	d.media = media.New(cfg.Agents, media.Limits{MaxFile: cfg.Settings.MediaMaxFile, MaxGroup: cfg.Settings.MediaMaxGroup},
		cfg.Log.Named("media"), cfg.Now)
	d.killCtx, d.killRuns = context.WithCancel(context.Background())
	service := ipc.NewService(ipc.Config{Authorizer: cfg.Policy, Facts: ipcFacts{d}, Performer: d, Refusals: cfg.Store,
		Log: cfg.Log.Named("ipc"), Now: cfg.Now, OnOutcome: cfg.OnIPC})
	// Each agent socket belongs to the user containers run as (a root host hands it over).
	uid, gid := -1, -1
	if o := cfg.Agents.Owner(); o.Chown {
		uid, gid = o.UID, o.GID
	}
	var err error
	d.sockets, err = agentsock.New(agentsock.Config{Dir: filepath.Join(d.layout.DataDir, "agents"), UID: uid, GID: gid,
		Model: cfg.Proxy.Handler, IPC: service, Log: cfg.Log.Named("agentsock"), OnAck: cfg.OnAck})
	if err != nil {
		return nil, err
	}
	d.queue = queue.New(queue.Config{
		MaxConcurrent:   cfg.Settings.MaxConcurrentContainers,
		Input:           d.sockets,
		ProcessMessages: d.processGroupMessages,
		OnGiveUp:        d.gaveUp,
		BaseRetry:       cfg.RetryBase,
		Log:             cfg.Log.Named("queue"),
	})
	d.sched = scheduler.New(scheduler.Config{Store: cfg.Store, Location: cfg.Settings.Location,
		Dispatch: d.dispatchTask, Now: cfg.Now, Log: cfg.Log.Named("scheduler")})
	return d, nil
}

func (d *Daemon) now() time.Time { return d.cfg.Now() }

func (d *Daemon) getenv(k string) string {
	if d.cfg.Getenv == nil {
		return ""
	}
	return d.cfg.Getenv(k)
}

// Run starts the channels, the agent sockets' outbox and the scheduler, recovers what a
// previous run left pending, and serves until ctx ends. Then it stops gracefully (see
// shutdown): no new work, idle containers closed, working ones given the shutdown grace to
// finish their turn with their sockets still serving, replies delivered, and whatever is
// left unanswered marked so the next host answers it, exactly once.
// stoppedOr is err, unless the host was asked to stop: a stop that lands while the daemon
// is still starting (loading groups) is a stop, not a failure (it exited 1 with "context
// canceled").
func stoppedOr(parent context.Context, err error) error {
	if parent.Err() != nil {
		return nil
	}
	return err
}

func (d *Daemon) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer d.killRuns()
	defer d.sockets.Close()
	if err := d.groups.Load(ctx, d.cfg.Store); err != nil {
		return stoppedOr(parent, err)
	}
	if err := d.restoreInflight(ctx); err != nil {
		return stoppedOr(parent, err)
	}
	d.closeInterruptedTasks(ctx)
	for _, g := range d.groups.All() {
		if _, err := d.sockets.Listen(g.Folder); err != nil {
			d.log.Error("agent socket", "group", g.Folder, "error", err)
		}
	}
	d.chanMu.Lock()
	for _, f := range d.cfg.Channels {
		ch, err := f(d.channelOptions())
		if err != nil {
			d.chanMu.Unlock()
			return fmt.Errorf("channel: %w", err)
		}
		if ch == nil {
			continue
		}
		if err := ch.Connect(ctx); err != nil {
			d.log.Error("channel did not connect", "channel", ch.Name(), "error", err)
			d.mu.Lock()
			d.chanFailures = append(d.chanFailures, ChannelStatus{Name: ch.Name(), State: channel.StateNotConnected, Detail: err.Error()})
			d.mu.Unlock()
			continue
		}
		d.log.Info("channel connected", "channel", ch.Name())
		d.addChannel(ch)
	}
	d.chanMu.Unlock()
	if d.chans.Len() == 0 {
		return errors.New("no channel connected: see the log above")
	}
	defer func() {
		for _, ch := range d.chans.All() {
			if err := ch.Disconnect(context.WithoutCancel(ctx)); err != nil {
				d.log.Warn("channel disconnect", "channel", ch.Name(), "error", err)
			}
		}
	}()
	if d.cfg.OnChannels != nil {
		d.cfg.OnChannels(d.chans)
	}
	// The outbox outlives ctx: replies of the shutdown grace still go out.
	outboxCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOutbox()
	outboxDone := make(chan struct{})
	go d.runOutbox(outboxCtx, outboxDone)
	schedErr := make(chan error, 1)
	go func() { schedErr <- d.sched.Run(ctx) }()
	d.recoverPending(ctx)
	d.log.Info("host ready", "groups", len(d.groups.All()), "channels", d.chans.Len())

	var fatal error
	select {
	case <-ctx.Done():
	case fatal = <-d.fatalCh:
		d.log.Error("a channel stopped for good; the host stops", "error", fatal)
	}
	cancel() // stops the scheduler, also after a channel's fatal error
	d.shutdown(context.WithoutCancel(ctx))
	stopOutbox()
	<-outboxDone
	d.flushOutbox(context.WithoutCancel(ctx)) // what the last runs said
	return errors.Join(fatal, <-schedErr)
}

// shutdown ends the host's runs: no new work is taken (messages are still stored, and
// answered after the restart), every container is asked to close after its current turn
// (an idle one closes at once), and those still working after the grace are stopped. A
// stopped run's unanswered inputs are taken back, so the next host answers them.
func (d *Daemon) shutdown(ctx context.Context) {
	d.stopping.Store(true)
	grace := d.cfg.Settings.ShutdownGrace
	d.log.Info("shutting down: no new work; containers finish their turn", "running", d.queue.ActiveCount(), "grace", grace)
	stopped, stop := context.WithCancel(ctx)
	stop()
	_ = d.queue.Shutdown(stopped) // no new runs or retries from here on
	for _, s := range d.queue.Status() {
		if s.Active {
			d.queue.CloseRun(s.JID)
		}
	}
	wait, cancel := context.WithTimeout(ctx, grace)
	err := d.queue.Shutdown(wait)
	cancel()
	if err == nil {
		return
	}
	d.log.Warn("the shutdown grace is over; stopping the containers still working", "running", d.queue.ActiveCount())
	d.killRuns()
	wait, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.queue.Shutdown(wait); err != nil {
		d.log.Error("containers did not stop", "error", err)
	}
}

// Queue exposes the group queue (status, tests).
func (d *Daemon) Queue() *queue.Queue { return d.queue }

// Scheduler exposes the scheduler, so a CLI change to tasks can wake it.
func (d *Daemon) Scheduler() *scheduler.Scheduler { return d.sched }

// ipcFacts answers the IPC watcher's identity questions.
type ipcFacts struct{ d *Daemon }

func (f ipcFacts) Group(_ context.Context, folder string) (bool, bool) {
	g, ok := f.d.groups.ByFolder(folder)
	return ok, ok && g.IsMain
}

func (f ipcFacts) TaskGroup(ctx context.Context, id string) string {
	t, ok, err := f.d.cfg.Store.Task(ctx, id)
	if err != nil || !ok {
		return ""
	}
	return t.GroupFolder
}

// closeInterruptedTasks completes the one-off tasks a dead host claimed but never finished
// (active, nothing left to run, never marked done), with an error run saying so, so they
// do not sit "active" forever. They are not run again: claims are at most once.
func (d *Daemon) closeInterruptedTasks(ctx context.Context) {
	tasks, err := d.cfg.Store.Tasks(ctx)
	if err != nil {
		d.log.Error("interrupted tasks", "error", err)
		return
	}
	now := store.Timestamp(d.now())
	for _, t := range tasks {
		if t.Status != store.TaskActive || t.NextRun != "" || t.ScheduleType != "once" {
			continue
		}
		const msg = "interrupted: the host stopped during the run; one-off tasks are not re-run"
		if err := d.cfg.Store.LogTaskRun(ctx, store.TaskRunLog{TaskID: t.ID, RunAt: now, Status: "error", Error: msg}); err != nil {
			d.log.Error("interrupted task", "task", t.ID, "error", err)
		}
		if err := d.cfg.Store.FinishTask(ctx, t.ID, now, "Error: "+msg); err != nil {
			d.log.Error("interrupted task", "task", t.ID, "error", err)
			continue
		}
		d.log.Warn("a one-off task was interrupted by a host stop and is marked completed", "task", t.ID)
	}
}
