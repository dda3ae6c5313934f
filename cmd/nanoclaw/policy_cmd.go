package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

const policyUsage = `usage:
  nanoclaw policy mount --group FOLDER [--main] --host-path P [--container-path C] [--rw] [--allowlist FILE] [--plugin FILE.wasm]
  nanoclaw policy ipc   --group FOLDER [--main] --request FILE.json [--dir tasks|messages] [--task-group FOLDER] [--groups FILE.json] [--plugin FILE.wasm]
  nanoclaw policy route --message FILE.json [--groups FILE.json] [--plugin FILE.wasm]

Prints one JSON object. Exit status: 0 allow (route: deliver), 1 deny (route: anything else), 2 usage or internal error.
Without --plugin the installed plugins decide, exactly as the running host would.
`

// cmdPolicy explains a policy decision: it runs the same plugins the host runs (or the one
// given) on a request given on the command line.
func cmdPolicy(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, policyUsage)
		return 2
	}
	fs := flag.NewFlagSet("policy "+args[0], flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, policyUsage) }
	group := fs.String("group", "", "the requesting group's folder")
	isMain := fs.Bool("main", false, "the requesting group is the main group")
	hostPath := fs.String("host-path", "", "mount: host path as configured")
	containerPath := fs.String("container-path", "", "mount: container path (default: base name)")
	rw := fs.Bool("rw", false, "mount: ask for read-write")
	allowlist := fs.String("allowlist", "", "mount: use this allowlist file")
	requestFile := fs.String("request", "", "ipc: the request file as an agent wrote it")
	dir := fs.String("dir", "", "ipc: messages or tasks (default: messages for type \"message\", else tasks)")
	taskGroup := fs.String("task-group", "", "ipc: folder owning the task the request names")
	groupsFile := fs.String("groups", "", "registered groups: JSON list of {jid, folder, isMain, trigger, requiresTrigger, name}")
	messageFile := fs.String("message", "", "route: a message (or a whole route request) as JSON")
	pluginFile := fs.String("plugin", "", "decide with this module (manifest beside it optional)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
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
