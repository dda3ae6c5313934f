package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

func cmdPlugin(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, "usage: nanoclaw plugin list [-json] | nanoclaw plugin check FILE.wasm\n")
		return 2
	}
	switch args[0] {
	case "list":
		return cmdPluginList(ctx, args[1:], e)
	case "check":
		return cmdPluginCheck(ctx, args[1:], e)
	}
	fmt.Fprintf(e.stderr, "nanoclaw plugin: unknown subcommand %q\n", args[0])
	return 2
}

// cmdPluginList asks the running host; with no host running it loads the plugin directory
// itself, so the list shows what a host would load (with no calls yet).
func cmdPluginList(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("plugin list", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
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
	if *asJSON {
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
func cmdPluginCheck(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("plugin check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "usage: nanoclaw plugin check FILE.wasm  (the manifest FILE.json must sit beside it)")
		return 2
	}
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
	p, err := loader.LoadFile(ctx, fs.Arg(0))
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
