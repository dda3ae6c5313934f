package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/logging"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
)

// cmdRun starts the host and serves until SIGINT or SIGTERM.
func cmdRun(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := logging.New(logging.FromEnv(e.getenv))
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
	reg, closeReg, err := openRegistry(ctx, paths, log)
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
	errs := make(chan error, 2)
	go func() { errs <- ctl.Serve(ctx) }()
	go func() { errs <- reg.Watch(ctx, paths.Plugins, nil) }()
	log.Info("host running", "plugins", len(reg.List()), "plugin_dir", paths.Plugins, "control", paths.ControlSocket)
	<-ctx.Done()
	log.Info("shutting down")
	var all []error
	for range 2 {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// openRegistry builds the plugin loader and registry the host and the CLI share.
func openRegistry(ctx context.Context, paths config.Paths, log hclog.Logger) (*plugin.Registry, func(), error) {
	grants, err := plugin.ReadGrants(paths.PluginGrants)
	if err != nil {
		return nil, nil, err
	}
	loader, err := plugin.NewLoader(plugin.LoaderConfig{
		CacheDir: paths.PluginCache,
		Grants:   grants,
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
