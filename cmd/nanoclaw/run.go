package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/channel/local"
	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/daemon"
	"github.com/nanoclaw/nanoclaw-go/host/hostlock"
	"github.com/nanoclaw/nanoclaw-go/host/logging"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/policyconfig"
	"github.com/nanoclaw/nanoclaw-go/host/status"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// cmdRun starts the host and serves until SIGINT or SIGTERM.
func cmdRun(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Start the host: channels, agents, IPC, scheduler, plugins",
		Long: `Start the host in the project directory (the current directory): the
WhatsApp and local channels, each group's agent container, IPC, the scheduler and the
plugins. It serves until SIGINT or SIGTERM.`,
		Example: "  nanoclaw run\n  LOG_LEVEL=debug nanoclaw run",
		Args:    cobra.NoArgs,
		RunE: body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
			return runRun(ctx, e)
		}),
	}
}

// runRun is the body of cmdRun.
func runRun(ctx context.Context, e env) int {
	s, err := loadSettings(e)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	opts := logging.FromEnv(s.getenv)
	opts.Output = e.stderr
	log, err := logging.New(opts)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if err := runHost(ctx, e, s, log); err != nil {
		if held := (*hostlock.HeldError)(nil); errors.As(err, &held) {
			fmt.Fprintln(e.stderr, "nanoclaw:", err) // one plain line: nothing was started
			return 1
		}
		log.Error("host stopped", "error", err)
		return 1
	}
	return 0
}

// hostSettings are the validated settings and the environment they came from: the process
// environment, then the project's .env.
type hostSettings struct {
	config.Settings
	paths  config.Paths
	getenv func(string) string
}

func loadSettings(e env) (hostSettings, error) {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		return hostSettings{}, err
	}
	dotenv, err := config.ReadDotEnv(filepath.Join(paths.Root, ".env"))
	if err != nil {
		return hostSettings{}, err
	}
	s, err := config.LoadSettings(e.getenv, dotenv)
	if err != nil {
		return hostSettings{}, err
	}
	return hostSettings{Settings: s, paths: paths, getenv: config.MergedEnv(e.getenv, dotenv)}, nil
}

func runHost(ctx context.Context, e env, s hostSettings, log hclog.Logger) error {
	paths := s.paths
	// One host per project, decided before anything is touched: a second host would remove
	// the first one's live containers as orphans and share its store and sockets.
	if err := privateDir(storeDir(paths)); err != nil {
		return err
	}
	lock, err := hostlock.Acquire(filepath.Join(storeDir(paths), hostlock.FileName))
	if err != nil {
		return err
	}
	defer lock.Release()
	if err := os.MkdirAll(paths.Plugins, 0o755); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	// data/ holds the agent sockets, sessions and the plugin cache, store/ the database
	// (every chat's messages, what each group spent): the host's alone.
	for _, dir := range []string{paths.Data} {
		if err := privateDir(dir); err != nil {
			return err
		}
	}
	proxyCfg, err := credproxy.ConfigFromEnv(s.getenv)
	if err != nil {
		return fmt.Errorf("%w (in the environment or the project's .env)", err)
	}
	proxyCfg.MaxTokensPerDay = s.MaxTokensPerDay
	proxyCfg.MaxConcurrency = s.MaxAPIConcurrency
	proxyCfg.Location = s.Location // the budget's day is the host's
	proxyCfg.Logger = log.Named("credproxy")
	// The container engine is the primary security boundary: no engine, no host.
	engine, err := sandbox.NewDocker()
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := engine.Ping(ctx); err != nil {
		return err
	}
	if err := engine.CheckImage(ctx, s.ContainerImage); err != nil {
		return err
	}
	if n, err := engine.RemoveManaged(ctx, sandbox.Instance(paths.Root)); err != nil {
		log.Warn("could not remove every orphaned agent container", "removed", n, "error", err)
	} else if n > 0 {
		log.Info("removed orphaned agent containers", "count", n)
	}
	st, err := store.Open(ctx, filepath.Join(storeDir(paths), "nanoclaw.db"), store.WithLogger(log.Named("store")))
	if err != nil {
		return err
	}
	defer st.Close()
	importNanoClaw(ctx, st, storeDir(paths), log.Named("import")) // before the groups load: NanoClaw's are among them
	groups := daemon.NewGroups()
	if err := groups.Load(ctx, st); err != nil {
		return err
	}
	docs := policyDocs(paths, s.getenv, log)
	// Plugins are released after NANOCLAW_PLUGIN_IDLE only while no agent runs; the daemon
	// that knows is made after the registry it needs.
	var running atomic.Pointer[daemon.Daemon]
	busy := func() bool { d := running.Load(); return d != nil && d.Queue().ActiveCount() > 0 }
	reg, closeReg, err := openRegistry(ctx, paths, docs, groups, log, s.PluginIdle, busy)
	if err != nil {
		return err
	}
	defer closeReg()
	if err := reg.LoadDir(ctx, paths.Plugins); err != nil {
		log.Warn("some plugins did not load; their kinds fall back to the last good version or deny", "error", err)
	}
	// Loading decodes and compiles every module: tens of MB of garbage the runtime would
	// otherwise keep for a long while in an idle host. Hand it back now.
	debug.FreeOSMemory()
	onPlugin := func(ev plugin.Event) {
		debug.FreeOSMemory() // the same after each reload
		if e.pluginEvents != nil {
			e.pluginEvents(ev)
		}
	}
	proxyCfg.Store = st // today's usage is loaded: a restart continues each group's budget
	proxy, err := credproxy.New(proxyCfg)
	if err != nil {
		return err
	}
	defer func() { // before the store closes: the usage not yet stored is written
		if err := proxy.Close(); err != nil {
			log.Warn("model API usage not stored", "error", err)
		}
	}()
	agents, err := agentFS(paths.Root, log)
	if err != nil {
		return err
	}
	log.Info("agents run as", "user", agents.Owner().User(), "chown", agents.Owner().Chown)
	d, err := daemon.New(daemon.Config{Root: paths.Root, Agents: agents, Settings: s.Settings, Store: st, Groups: groups, Policy: reg,
		Runtime: engine, Proxy: proxy, Channels: channelFactories(), Getenv: s.getenv, Log: log.Named("host"),
		OnAck: e.onAck})
	if err != nil {
		return err
	}
	running.Store(d)
	if err := ensureMainGroup(ctx, d, groups, log); err != nil {
		return err
	}
	ctl := control.NewServer(paths.ControlSocket)
	ctl.HandleJSON("/plugins", func() any { return reg.List() })
	started := time.Now()
	ctl.HandleJSON("/status", func() any {
		return hostStatus(ctx, paths, d, reg, proxy, st, started, log)
	})
	ctl.HandlePost("/groups/reload", func(r *http.Request) (any, error) {
		return map[string]bool{"reloaded": true}, d.ReloadGroups(r.Context())
	})
	ctl.HandlePost(whatsappConnectPath, func(r *http.Request) (any, error) {
		name, err := d.ConnectChannel(r.Context(), whatsapp.Factory) // `nanoclaw auth` paired a session
		return map[string]string{"connected": name}, err
	})
	ctl.HandlePost("/groups/{folder}/reset", func(r *http.Request) (any, error) {
		return map[string]bool{"reset": true}, d.ResetConversation(r.Context(), r.PathValue("folder"), "cli")
	})
	if err := ctl.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 4)
	go func() { errs <- ctl.Serve(ctx) }()
	go func() { errs <- reg.Watch(ctx, paths.Plugins, onPlugin) }()
	go func() { errs <- docs.Watch(ctx, reg.ConfigChanged) }() // plugins re-read a changed file and report its problems now
	go func() {
		err := d.Run(ctx)
		cancel() // the daemon failing (no channel) stops the host
		errs <- err
	}()
	log.Info("host running", "plugins", len(reg.List()), "plugin_dir", paths.Plugins, "control", paths.ControlSocket,
		"chat", local.SocketPath(paths.Data))
	if e.ready != nil {
		close(e.ready)
	}
	<-ctx.Done()
	log.Info("shutting down")
	var all []error
	for range 4 {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// storeDir is where the host's database lives.
func storeDir(paths config.Paths) string { return filepath.Join(paths.Root, "store") }

// privateDir makes dir (and any missing parent) and gives it mode 0700, whatever mode an
// older install left it with.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	return nil
}

// channelFactories are the channels the host starts, in outbound-ownership order.
func channelFactories() []channel.Factory {
	return []channel.Factory{whatsapp.Factory, local.Factory}
}

// ensureMainGroup gives a fresh install a main group to talk to: the local terminal chat,
// local:main, so `nanoclaw chat` works before any phone is paired.
// agentFS is the project's agent-writable directories, for agents running as the user this
// process's uid implies (agentfs.OwnerFor: root runs them as 1000:1000, anyone else as
// itself). The host and `groups add` compute it the same way.
func agentFS(root string, log hclog.Logger) (*agentfs.FS, error) {
	return agentfs.New(root, agentfs.OwnerFor(os.Getuid(), os.Getgid()), log.Named("agentfs"))
}

func ensureMainGroup(ctx context.Context, d *daemon.Daemon, groups *daemon.Groups, log hclog.Logger) error {
	for _, g := range groups.All() {
		if g.IsMain {
			return nil
		}
	}
	if _, taken := groups.ByFolder("main"); taken {
		return nil
	}
	log.Info("no main group yet: registering the local chat as main; talk to it with `nanoclaw chat`")
	return d.Register(ctx, store.Group{JID: "local:main", Name: "Local chat", Folder: "main", IsMain: true})
}

// hostStatus is the control socket's /status answer (host/status.Doc).
func hostStatus(ctx context.Context, paths config.Paths, d *daemon.Daemon, reg *plugin.Registry, proxy *credproxy.Proxy,
	st *store.Store, started time.Time, log hclog.Logger) status.Doc {
	info := readBuildInfo()
	ds := d.Status(ctx)
	tasks, err := st.Tasks(ctx)
	if err != nil {
		log.Warn("status: scheduled tasks", "error", err)
	}
	return status.Build(status.Input{Version: info.Version, Commit: info.Commit, Started: started, Now: time.Now(),
		Daemon: ds, Extra: whatsAppState(ctx, storeDir(paths), ds.Channels), Plugins: reg.List(), Problems: reg.Problems(),
		Usage: proxy.Usage, Tasks: tasks})
}

// whatsAppState is WhatsApp's line in status when the daemon has none: its factory builds
// no channel while there is no session, which the user fixes with `nanoclaw auth`.
func whatsAppState(ctx context.Context, dir string, have []daemon.ChannelStatus) []status.Channel {
	for _, c := range have {
		if c.Name == whatsapp.Name {
			return nil
		}
	}
	if _, paired, err := whatsapp.Paired(ctx, dir); err != nil {
		return []status.Channel{{Name: whatsapp.Name, State: channel.StateNotConnected, Detail: err.Error()}}
	} else if !paired {
		return []status.Channel{{Name: whatsapp.Name, State: channel.StatePairingNeeded}}
	}
	return []status.Channel{{Name: whatsapp.Name, State: channel.StateNotConnected, Detail: "paired, but not started: restart the host"}}
}

// policyDocs serves the operator's policy files (allowlists) to plugins. Every document
// also names the paths no mount may ever reach: config.Paths.Protected, the one list the host
// and `nanoclaw policy mount` share.
func policyDocs(paths config.Paths, getenv func(string) string, log hclog.Logger) *policyconfig.Docs {
	return policyconfig.New(policyconfig.Options{
		ConfigDir: paths.ConfigDir,
		Protected: paths.Protected(),
		Files: map[string]string{
			"mount-allowlist":  getenv("NANOCLAW_MOUNT_ALLOWLIST"),
			"sender-allowlist": getenv("NANOCLAW_SENDER_ALLOWLIST"),
		},
		Logger: log.Named("policyconfig"),
	})
}

// openRegistry builds the plugin loader and registry the host and the CLI share. idle is
// how long an unused plugin keeps its compiled code and instances (0: for ever), busy (may
// be nil) holds that off while agents run; released memory goes back to the OS.
func openRegistry(ctx context.Context, paths config.Paths, docs plugin.ConfigSource, groups plugin.GroupDirectory, log hclog.Logger, idle time.Duration, busy func() bool) (*plugin.Registry, func(), error) {
	grants, err := plugin.ReadGrants(paths.PluginGrants)
	if err != nil {
		return nil, nil, err
	}
	loader, err := plugin.NewLoader(plugin.LoaderConfig{
		CacheDir: paths.PluginCache,
		Grants:   grants,
		Services: plugin.Services{Config: docs, Groups: groups},
		Logger:   log.Named("plugin"),

		IdleRelease: idle,
		Released:    plugin.ReturnMemory,
		Busy:        busy,
	})
	if err != nil {
		return nil, nil, err
	}
	reg := plugin.NewRegistry(loader, log.Named("plugin"))
	return reg, func() {
		reg.Close(context.Background())
		_ = loader.Close(context.Background())
	}, nil
}
