package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// cmdPlugin inspects policy plugins: the ones loaded, or one module on disk.
func cmdPlugin(e env) *cobra.Command {
	return parent(&cobra.Command{
		Use:     "plugin",
		Short:   "Inspect policy plugins: the ones loaded, or one module before installing it",
		Example: "  nanoclaw plugin list\n  nanoclaw plugin check plugins/router.wasm",
	}, cmdPluginList(e), cmdPluginCheck(e))
}

// cmdPluginList asks the running host; with no host running it loads the plugin directory
// itself, so the list shows what a host would load (with no calls yet).
func cmdPluginList(e env) *cobra.Command {
	c := &cobra.Command{
		Use:     "list",
		Short:   "List loaded plugins: kind, hash, capabilities, calls, faults",
		Long:    "List the plugins a running host has loaded; with no host running, the ones it would load from plugins/.",
		Example: "  nanoclaw plugin list\n  nanoclaw plugin list --json",
		Args:    cobra.NoArgs,
	}
	asJSON := c.Flags().Bool("json", false, "print JSON")
	c.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		return runPluginList(ctx, e, *asJSON)
	})
	return c
}

// runPluginList is the body of cmdPluginList.
func runPluginList(ctx context.Context, e env, asJSON bool) int {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	var list []plugin.Info
	source := "running host"
	if err := control.GetJSON(ctx, paths.ControlSocket, "/plugins", &list); err != nil {
		if !errors.Is(err, control.ErrNoHost) {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 2
		}
		source = "no running host; loaded " + paths.Plugins
		reg, closeReg, err := openRegistry(ctx, paths, policyDocs(paths, e.getenv, hclog.NewNullLogger()), nil, hclog.NewNullLogger(), 0, nil)
		if err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 2
		}
		defer closeReg()
		if err := reg.LoadDir(ctx, paths.Plugins); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw: some plugins did not load:", err)
		}
		list = reg.List()
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
		return 0
	}
	fmt.Fprintf(e.stdout, "# %s\n", source)
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tORDER\tNAME\tHASH\tCAPABILITIES\tDELIVERS TO\tCALLS\tFAULTS\tSTATE")
	for _, p := range list {
		state := "serving"
		switch {
		case p.Tripped:
			state = "tripped"
		case p.Idle:
			state = "idle"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.12s\t%v\t%s\t%d\t%d\t%s\n", p.Kind, p.Order, p.Name, p.Hash, p.Capabilities, deliversTo(p), p.Calls, p.Faults, state)
	}
	_ = tw.Flush()
	return 0
}

// deliversTo shows a route plugin's delivery grant: its own chat's group always, plus the
// groups its manifest names ("*" is every group but main).
func deliversTo(p plugin.Info) string {
	if p.Kind != protocol.KindRoute {
		return "-"
	}
	if len(p.DeliverTo) == 0 {
		return "own group"
	}
	return "own group, " + strings.Join(p.DeliverTo, ", ")
}

// cmdPluginCheck loads a module exactly as the host would (manifest, grants, imports,
// exports, ABI version, self-check) and reports the outcome.
func cmdPluginCheck(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "check FILE.wasm",
		Short: "Check a plugin module and its manifest (FILE.json beside it) as the host would load them",
		Long: `Check a plugin module as the host would load it: its manifest FILE.json beside it, the
grants, imports, exports, ABI version and self-check. Exit status 0 valid, 1 invalid.`,
		Example: "  nanoclaw plugin check plugins/router.wasm",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{c, fmt.Errorf("one module to check, FILE.wasm (its manifest FILE.json beside it); got %d arguments", len(args))}
			}
			return nil
		},
	}
	c.RunE = body(func(ctx context.Context, _ *cobra.Command, args []string) int {
		return runPluginCheck(ctx, e, args[0])
	})
	return c
}

// runPluginCheck is the body of cmdPluginCheck.
func runPluginCheck(ctx context.Context, e env, file string) int {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	grants, err := plugin.ReadGrants(paths.PluginGrants)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	// An in-memory cache: checking must not write native code anywhere.
	loader, err := plugin.NewLoader(plugin.LoaderConfig{Grants: grants})
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	defer loader.Close(context.Background())
	p, err := loader.LoadFile(ctx, file)
	if err != nil {
		fmt.Fprintf(e.stdout, "invalid: %v\n", err)
		return 1
	}
	defer p.Close(context.Background())
	m := p.Manifest
	fmt.Fprintf(e.stdout, "valid: %s (kind %s, abi %d, order %d)\n  sha256 %s\n  capabilities %v\n  limits: memory %d MiB, deadline %v, request ≤ %d B, verdict ≤ %d B\n",
		m.Name, m.Kind, m.ABI, m.Order, p.Hash, p.Granted, m.Limits.MemoryMiB, m.Limits.Deadline(), m.Limits.MaxRequestBytes, m.Limits.MaxVerdictBytes)
	if m.Kind == protocol.KindRoute {
		fmt.Fprintf(e.stdout, "  delivers to: %s\n", deliversTo(plugin.Info{Kind: m.Kind, DeliverTo: m.DeliverTo}))
	}
	return 0
}
