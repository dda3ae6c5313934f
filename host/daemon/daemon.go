// Package daemon is the host: it ties channels, the store, the policy plugins, the group
// queue, the sandbox, the IPC watcher and the scheduler into `nanoclaw run`.
//
// A message travels channel → OnMessage (stored, routed by the route plugin) → the group
// queue → a container → replies back through the owning channel. Nothing polls: a stored
// message is handed on at once, IPC requests arrive through fsnotify, tasks through a timer.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/ipc"
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
	// OnIPC, when set, hears every IPC request's fate (tests and benchmarks).
	OnIPC func(ipc.Outcome)
	// OnChannels, when set, is called once the channels are connected.
	OnChannels func(*channel.Set)
}

// Daemon is a running host.
type Daemon struct {
	cfg    Config
	log    hclog.Logger
	groups *Groups
	queue  *queue.Queue
	sched  *scheduler.Scheduler
	ipc    *ipc.Watcher
	chans  *channel.Set
	layout sandbox.Layout

	inflightMu sync.Mutex
	inflight   map[string]bool // chats whose in-flight marker is set

	pipeMu sync.Mutex          // orders piping follow-ups against the end of a run
	piped  map[string][]string // per chat: the cursor before each follow-up piped this run

	mu        sync.Mutex
	listening map[string]bool    // groups whose proxy socket is up
	running   map[string]running // containers now running, by group folder
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
		cfg:       cfg,
		log:       cfg.Log,
		groups:    cfg.Groups,
		chans:     channel.NewSet(),
		listening: map[string]bool{},
		piped:     map[string][]string{},
		inflight:  map[string]bool{},
		running:   map[string]running{},
		layout:    sandbox.Layout{ProjectRoot: cfg.Root, DataDir: filepath.Join(cfg.Root, "data"), Agent: cfg.Agents},
	}
	d.queue = queue.New(queue.Config{
		MaxConcurrent:   cfg.Settings.MaxConcurrentContainers,
		InputDir:        func(folder string) string { return filepath.Join(d.layout.DataDir, "ipc", folder, "input") },
		ProcessMessages: d.processGroupMessages,
		Log:             cfg.Log.Named("queue"),
	})
	d.sched = scheduler.New(scheduler.Config{Store: cfg.Store, Location: cfg.Settings.Location,
		Dispatch: d.dispatchTask, Now: cfg.Now, Log: cfg.Log.Named("scheduler")})
	d.ipc = ipc.New(ipc.Config{Dir: filepath.Join(d.layout.DataDir, "ipc"), Authorizer: cfg.Policy,
		Facts: ipcFacts{d}, Performer: d, Log: cfg.Log.Named("ipc"), OnOutcome: cfg.OnIPC})
	return d, nil
}

func (d *Daemon) now() time.Time { return d.cfg.Now() }

func (d *Daemon) getenv(k string) string {
	if d.cfg.Getenv == nil {
		return ""
	}
	return d.cfg.Getenv(k)
}

// Run starts the channels, the IPC watcher and the scheduler, recovers what a previous run
// left pending, and serves until ctx ends. Shutdown is graceful: no new runs start, running
// containers are not killed (they end by their idle close or timeout, and the next host
// removes any left over).
func (d *Daemon) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if err := d.groups.Load(ctx, d.cfg.Store); err != nil {
		return err
	}
	if err := d.restoreInflight(ctx); err != nil {
		return err
	}
	d.closeInterruptedTasks(ctx)
	for _, f := range d.cfg.Channels {
		ch, err := f(channel.Options{Sink: d, Log: d.log, DataDir: d.layout.DataDir, StoreDir: filepath.Join(d.cfg.Root, "store"),
			AssistantName: d.cfg.Settings.AssistantName, HasOwnNumber: d.cfg.Settings.HasOwnNumber, Getenv: d.getenv})
		if err != nil {
			return fmt.Errorf("channel: %w", err)
		}
		if ch == nil {
			continue
		}
		if err := ch.Connect(ctx); err != nil {
			d.log.Error("channel did not connect", "channel", ch.Name(), "error", err)
			continue
		}
		d.log.Info("channel connected", "channel", ch.Name())
		d.chans.Add(ch)
	}
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
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- d.ipc.Run(ctx) }()
	go func() { defer wg.Done(); errs <- d.sched.Run(ctx) }()
	d.writeSnapshots(ctx)
	d.recoverPending(ctx)
	d.log.Info("host ready", "groups", len(d.groups.All()), "channels", d.chans.Len())

	var fatal error
	select {
	case <-ctx.Done():
	case fatal = <-d.fatal():
		d.log.Error("a channel stopped for good; the host stops", "error", fatal)
	}
	d.log.Info("shutting down: no new runs; running containers finish on their own")
	cancel() // stops the IPC watcher and the scheduler, also after a channel's fatal error
	stop, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), 0)
	_ = d.queue.Shutdown(stop)
	cancelStop()
	wg.Wait()
	close(errs)
	all := []error{fatal}
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
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

// fatal merges the channels that can stop for good (WhatsApp logged out, or the session
// taken over by another process): the host then stops with their reason.
func (d *Daemon) fatal() <-chan error {
	out := make(chan error, 1)
	for _, ch := range d.chans.All() {
		if f, ok := ch.(interface{ Fatal() <-chan error }); ok {
			go func() {
				if err, ok := <-f.Fatal(); ok && err != nil {
					select {
					case out <- fmt.Errorf("%s: %w", ch.Name(), err):
					default:
					}
				}
			}()
		}
	}
	return out
}
