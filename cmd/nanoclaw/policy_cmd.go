package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// policyOpts are the flags of the policy subcommands; each subcommand registers the ones
// its kind uses.
type policyOpts struct {
	group, hostPath, containerPath, allowlist, requestFile, dir, taskGroup string
	groupsFile, messageFile, pluginFile                                    string
	isMain, rw                                                             bool
}

// cmdPolicy explains a policy decision: it runs the same plugins the host runs (or the one
// given) on a request given on the command line.
func cmdPolicy(e env) *cobra.Command {
	kind := func(use, short, example string, flags func(*pflag.FlagSet, *policyOpts)) *cobra.Command {
		o := &policyOpts{}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Long: `Prints one JSON object. Exit status: 0 allow (route: deliver), 1 deny (route: anything
else), 2 usage or internal error. Without --plugin the installed plugins decide, exactly as
the running host would.`,
			Example: example,
			Args:    cobra.NoArgs,
		}
		flags(c.Flags(), o)
		c.Flags().StringVar(&o.pluginFile, "plugin", "", "decide with this module (manifest beside it optional)")
		c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
			return runPolicy(ctx, c, e, c.Name(), o)
		})
		return c
	}
	requester := func(fs *pflag.FlagSet, o *policyOpts) {
		fs.StringVar(&o.group, "group", "", "the requesting group's folder")
		fs.BoolVar(&o.isMain, "main", false, "the requesting group is the main group")
	}
	groupsFlag := func(fs *pflag.FlagSet, o *policyOpts) {
		fs.StringVar(&o.groupsFile, "groups", "", "registered groups: JSON list of {jid, folder, isMain, trigger, requiresTrigger, name}")
	}
	return parent(&cobra.Command{
		Use:   "policy",
		Short: "Explain a policy decision: mount, IPC or routing (JSON; exit 0 allow, 1 deny)",
		Example: `  nanoclaw policy mount --group family --host-path ~/projects/app --rw
  nanoclaw policy route --message msg.json --groups groups.json`,
	},
		kind("mount --group FOLDER --host-path PATH", "Would a group's container get this mount? (JSON; exit 0 allow, 1 deny)",
			`  nanoclaw policy mount --group family --host-path ~/projects/app --rw
  nanoclaw policy mount --group main --main --host-path ~/src --allowlist allowlist.json`,
			func(fs *pflag.FlagSet, o *policyOpts) {
				requester(fs, o)
				fs.StringVar(&o.hostPath, "host-path", "", "host path as configured")
				fs.StringVar(&o.containerPath, "container-path", "", "container path (default: base name)")
				fs.BoolVar(&o.rw, "rw", false, "ask for read-write")
				fs.StringVar(&o.allowlist, "allowlist", "", "use this allowlist file")
			}),
		kind("ipc --group FOLDER --request FILE.json", "Would the host carry out this IPC request from a group's agent? (JSON; exit 0 allow, 1 deny)",
			"  nanoclaw policy ipc --group family --request req.json --groups groups.json",
			func(fs *pflag.FlagSet, o *policyOpts) {
				requester(fs, o)
				fs.StringVar(&o.requestFile, "request", "", "the request file as an agent wrote it")
				fs.StringVar(&o.dir, "dir", "", "messages or tasks (default: messages for type \"message\", else tasks)")
				fs.StringVar(&o.taskGroup, "task-group", "", "folder owning the task the request names")
				groupsFlag(fs, o)
			}),
		kind("route --message FILE.json", "Where would this incoming message go? (JSON; exit 0 deliver, 1 anything else)",
			"  nanoclaw policy route --message msg.json --groups groups.json [--plugin any.wasm]",
			func(fs *pflag.FlagSet, o *policyOpts) {
				fs.StringVar(&o.messageFile, "message", "", "a message (or a whole route request) as JSON")
				groupsFlag(fs, o)
			}),
	)
}

// runPolicy is the body of the policy subcommands; kind is mount, ipc or route.
func runPolicy(ctx context.Context, c *cobra.Command, e env, kind string, o *policyOpts) int {
	group, isMain, hostPath, containerPath, rw, allowlist := &o.group, &o.isMain, &o.hostPath, &o.containerPath, &o.rw, &o.allowlist
	requestFile, dir, taskGroup, groupsFile, messageFile, pluginFile := &o.requestFile, &o.dir, &o.taskGroup, &o.groupsFile, &o.messageFile, &o.pluginFile
	args := []string{kind}
	// Missing flags are usage errors, found before any file is read.
	switch kind {
	case "mount":
		if *group == "" || *hostPath == "" {
			return usage(c, "--group and --host-path are required")
		}
	case "ipc":
		if *group == "" || *requestFile == "" {
			return usage(c, "--group and --request are required")
		}
	case "route":
		if *messageFile == "" {
			return usage(c, "--message is required")
		}
	}
	fail := func(err error) int {
		fmt.Fprintln(e.stderr, "nanoclaw policy:", err)
		return 2
	}
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		return fail(err)
	}
	groups, err := readGroups(*groupsFile)
	if err != nil {
		return fail(err)
	}
	getenv := e.getenv
	if *allowlist != "" {
		// A file that is not there is a mistake on the command line, not a policy answer:
		// the mount guard would deny ("no mount allowlist"), which reads like a verdict.
		if args[0] != "mount" {
			return fail(errors.New("--allowlist is for policy mount"))
		}
		if fi, err := os.Stat(*allowlist); err != nil {
			return fail(fmt.Errorf("--allowlist: %w", err))
		} else if !fi.Mode().IsRegular() {
			return fail(fmt.Errorf("--allowlist: %s is not a file", *allowlist))
		}
		abs, err := filepath.Abs(*allowlist)
		if err != nil {
			return fail(err)
		}
		getenv = func(k string) string {
			if k == "NANOCLAW_MOUNT_ALLOWLIST" {
				return abs
			}
			return e.getenv(k)
		}
	}
	docs := policyDocs(paths, getenv, hclog.NewNullLogger())
	reg, closeReg, err := openRegistry(ctx, paths, docs, groups, hclog.NewNullLogger(), 0, nil)
	if err != nil {
		return fail(err)
	}
	defer closeReg()
	if *pluginFile != "" {
		err = loadOne(ctx, reg, *pluginFile, protocol.Kind(args[0]))
	} else {
		err = reg.LoadDir(ctx, paths.Plugins)
	}
	if err != nil {
		return fail(err)
	}
	out := json.NewEncoder(e.stdout)
	switch args[0] {
	case "mount":
		if *group == "" || *hostPath == "" {
			return fail(errors.New("mount needs --group and --host-path"))
		}
		d := reg.DecideMount(ctx, &protocol.MountRequest{Group: *group, IsMain: *isMain, HostPath: *hostPath, ContainerPath: *containerPath, ReadOnly: !*rw})
		_ = out.Encode(map[string]any{"allow": d.Allow, "readonly": d.ReadOnly, "hostPath": d.HostPath, "containerPath": d.ContainerPath, "reason": d.Reason, "decidedBy": d.DecidedBy})
		return verdictStatus(d.Allow)
	case "ipc":
		if *group == "" || *requestFile == "" {
			return fail(errors.New("ipc needs --group and --request"))
		}
		body, err := readJSONFile(*requestFile)
		if err != nil {
			return fail(err)
		}
		d := *dir
		if d == "" {
			var probe struct{ Type string }
			_ = json.Unmarshal(body, &probe)
			d = "tasks"
			if probe.Type == "message" {
				d = "messages"
			}
		}
		v := reg.DecideIPC(ctx, &protocol.IPCRequest{Group: *group, IsMain: *isMain, Dir: d, TaskGroup: *taskGroup, Request: body})
		_ = out.Encode(map[string]any{"allow": v.Allow, "reason": v.Reason, "decidedBy": v.DecidedBy})
		return verdictStatus(v.Allow)
	case "route":
		if *messageFile == "" {
			return fail(errors.New("route needs --message"))
		}
		req, err := readRouteRequest(*messageFile, groups, e.getenv)
		if err != nil {
			return fail(err)
		}
		v := reg.DecideRoute(ctx, req)
		_ = out.Encode(map[string]any{"action": v.Action, "group": v.Group, "reason": v.Reason, "decidedBy": v.DecidedBy})
		return verdictStatus(v.Action == protocol.ActionDeliver)
	}
	return fail(fmt.Errorf("unknown policy kind %q (mount, ipc, route)", args[0]))
}

func verdictStatus(allow bool) int {
	if allow {
		return 0
	}
	return 1
}

// loadOne loads a single module for kind: with its manifest when one sits beside it, else
// with a manifest granting everything the kind may have (for trying third-party builds).
func loadOne(ctx context.Context, reg *plugin.Registry, wasmPath string, kind protocol.Kind) error {
	if _, err := os.Stat(plugin.ManifestPath(wasmPath)); err == nil {
		return reg.LoadFile(ctx, wasmPath)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	caps := plugin.DefaultGrants()[kind]
	m, err := plugin.ParseManifest(fmt.Appendf(nil, `{"name":"cli","kind":%q,"abi":%d,"capabilities":%s,"config":%q}`,
		kind, abi.Version, mustJSON(caps), defaultConfigName(kind)))
	if err != nil {
		return err
	}
	return reg.LoadBytes(ctx, plugin.Stem(wasmPath), m, wasm)
}

func defaultConfigName(k protocol.Kind) string {
	switch k {
	case protocol.KindMount:
		return "mount-allowlist"
	case protocol.KindRoute:
		return "sender-allowlist"
	}
	return ""
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func readJSONFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON", path)
	}
	return b, nil
}

type groupFile struct {
	JID             string `json:"jid"`
	Folder          string `json:"folder"`
	Name            string `json:"name"`
	Trigger         string `json:"trigger"`
	RequiresTrigger *bool  `json:"requiresTrigger"`
	IsMain          bool   `json:"isMain"`
}

func readGroups(path string) (plugin.StaticGroups, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []groupFile
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(plugin.StaticGroups, len(list))
	for i, g := range list {
		out[i] = protocol.Group{JID: g.JID, Folder: g.Folder, Name: g.Name, Trigger: g.Trigger, IsMain: g.IsMain,
			RequiresTrigger: g.RequiresTrigger == nil || *g.RequiresTrigger}
	}
	return out, nil
}

// readRouteRequest accepts a whole route request or just a message; for a message the group
// comes from --groups by chat JID.
func readRouteRequest(path string, groups plugin.StaticGroups, getenv func(string) string) (*protocol.RouteRequest, error) {
	b, err := readJSONFile(path)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	req := &protocol.RouteRequest{}
	if _, whole := probe["message"]; !whole {
		b = append(append([]byte(`{"message":`), b...), '}')
	}
	if err := req.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	if req.Group == nil {
		if g, ok := groups.LookupGroup([]byte(req.Message.ChatJID)); ok {
			req.Group = &g
		}
	}
	if req.AssistantName == "" {
		req.AssistantName = cmp.Or(getenv("ASSISTANT_NAME"), "Andy")
	}
	return req, nil
}
