package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/logging"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/policyconfig"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// cmdRun starts the host and serves until SIGINT or SIGTERM.
func cmdRun(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := logging.FromEnv(e.getenv)
	opts.Output = e.stderr
	log, err := logging.New(opts)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if err := runHost(ctx, e, log); err != nil {
		log.Error("host stopped", "error", err)
		return 1
	}
	return 0
}

func runHost(ctx context.Context, e env, log hclog.Logger) error {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(paths.Data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(paths.Plugins, 0o755); err != nil {
		return fmt.Errorf("plugin directory: %w", err)
	}
	// The container engine is the primary security boundary: no engine, no host.
	engine, err := sandbox.NewDocker()
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := engine.Ping(ctx); err != nil {
		return err
	}
	if n, err := engine.RemoveManaged(ctx, sandbox.Instance(paths.Root)); err != nil {
		log.Warn("could not remove every orphaned agent container", "removed", n, "error", err)
	} else if n > 0 {
		log.Info("removed orphaned agent containers", "count", n)
	}
	docs := policyDocs(paths, e.getenv, log)
	reg, closeReg, err := openRegistry(ctx, paths, docs, nil, log)
	if err != nil {
		return err
	}
	defer closeReg()
	if err := reg.LoadDir(ctx, paths.Plugins); err != nil {
		log.Warn("some plugins did not load; their kinds fall back to the last good version or deny", "error", err)
	}
	ctl := control.NewServer(paths.ControlSocket)
	ctl.HandleJSON("/plugins", func() any { return reg.List() })
	if err := ctl.Listen(); err != nil {
		return err
	}
	errs := make(chan error, 3)
	go func() { errs <- ctl.Serve(ctx) }()
	go func() { errs <- reg.Watch(ctx, paths.Plugins, e.pluginEvents) }()
	go func() { errs <- docs.Watch(ctx, nil) }()
	log.Info("host running", "plugins", len(reg.List()), "plugin_dir", paths.Plugins, "control", paths.ControlSocket)
	if e.ready != nil {
		close(e.ready)
	}
	<-ctx.Done()
	log.Info("shutting down")
	var all []error
	for range 3 {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// policyDocs serves the operator's policy files (allowlists) to plugins. Every document
// also names the paths no mount may ever reach.
func policyDocs(paths config.Paths, getenv func(string) string, log hclog.Logger) *policyconfig.Docs {
	return policyconfig.New(policyconfig.Options{
		ConfigDir: paths.ConfigDir,
		Protected: []string{paths.ConfigDir, filepath.Join(paths.Root, "store"), paths.PluginCache},
		Files: map[string]string{
			"mount-allowlist":  getenv("NANOCLAW_MOUNT_ALLOWLIST"),
			"sender-allowlist": getenv("NANOCLAW_SENDER_ALLOWLIST"),
		},
		Logger: log.Named("policyconfig"),
	})
}

// openRegistry builds the plugin loader and registry the host and the CLI share.
func openRegistry(ctx context.Context, paths config.Paths, docs plugin.ConfigSource, groups plugin.GroupDirectory, log hclog.Logger) (*plugin.Registry, func(), error) {
	grants, err := plugin.ReadGrants(paths.PluginGrants)
	if err != nil {
		return nil, nil, err
	}
	loader, err := plugin.NewLoader(plugin.LoaderConfig{
		CacheDir: paths.PluginCache,
		Grants:   grants,
		Services: plugin.Services{Config: docs, Groups: groups},
		Logger:   log.Named("plugin"),
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
