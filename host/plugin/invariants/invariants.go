// Package invariants states what every plugin of a kind must never do, whoever wrote it, and
// builds the small worlds (a filesystem, registered groups) to check it in. The fuzz targets
// beside it drive any plugin build through the real plugin host against these invariants —
// `make fuzz PLUGIN=path/to/any.wasm KIND=mount` — and, for the default plugins, compare the
// wasm verdict with the native build of the same policy.
package invariants

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// MountWorld is a home directory with allowed roots, secrets, symlink traps and an allowlist.
type MountWorld struct {
	Home      string
	Allowlist string   // the allowlist file content
	Roots     []Root   // resolved allowed roots
	Blocked   []string // every blocked pattern, defaults included
	Protected []string // resolved protected paths
	NonMainRO bool
}

// Root is an allowed root as the world resolved it.
type Root struct {
	Real      string
	ReadWrite bool
}

// DefaultBlocked mirrors the patterns every mount policy must refuse.
var DefaultBlocked = []string{
	".ssh", ".gnupg", ".gpg", ".aws", ".azure", ".gcloud", ".kube", ".docker",
	"credentials", ".env", ".netrc", ".npmrc", ".pypirc", "id_rsa", "id_ed25519",
	"private_key", ".secret",
}

// NewMountWorld builds the world under dir.
func NewMountWorld(dir string) (*MountWorld, error) {
	home, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{
		"projects/app/src", "projects/app/.ssh", "projects/app/docs/ro", "projects/.AWS", "projects/tokens", "shared/ro",
		".ssh", ".config/nanoclaw", "outside/data",
		// A nanoclaw checkout inside an allowed root, with the host's own state.
		"projects/nanoclaw/data/ipc/main", "projects/nanoclaw/data/proxy", "projects/nanoclaw/data/sessions/main",
		"projects/nanoclaw/data/plugin-cache", "projects/nanoclaw/plugins", "projects/nanoclaw/store",
		"projects/nanoclaw/groups/main", "projects/nanoclaw/bin", "projects/nanoclaw/.git",
	} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			return nil, err
		}
	}
	links := map[string]string{
		"projects/escape": filepath.Join(home, "outside"),
		"projects/keys":   filepath.Join(home, ".ssh"),
		"projects/cfg":    filepath.Join(home, ".config/nanoclaw"),
		"projects/up":     "..",
		"projects/loop":   "loop",
		"linked":          filepath.Join(home, "projects"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(home, name)); err != nil && !os.IsExist(err) {
			return nil, err
		}
	}
	project := filepath.Join(home, "projects/nanoclaw")
	w := &MountWorld{
		Home: home,
		Allowlist: `{"allowedRoots":[{"path":"~/linked","allowReadWrite":true},{"path":"~/shared","allowReadWrite":false},{"path":"~/gone","allowReadWrite":true},` +
			`{"path":"~/projects/app/docs","allowReadWrite":false}],"blockedPatterns":["token"],"nonMainReadOnly":true}`,
		Roots: []Root{{Real: filepath.Join(home, "projects"), ReadWrite: true}, {Real: filepath.Join(home, "shared")},
			{Real: filepath.Join(home, "projects/app/docs")}},
		Blocked: append(append([]string{}, DefaultBlocked...), "token"),
		// What config.Paths.Protected lists for this checkout.
		Protected: []string{project, project + "/data", project + "/store", project + "/plugins", project + "/data/plugin-cache",
			filepath.Join(home, ".config/nanoclaw"), project + "/groups", project + "/groups/main"},
		NonMainRO: true,
	}
	return w, nil
}

// Doc is the config document the host would hand a mount plugin in this world.
func (w *MountWorld) Doc() protocol.ConfigDoc {
	return protocol.ConfigDoc{Name: "mount-allowlist", Path: filepath.Join(w.Home, ".config/nanoclaw/mount-allowlist.json"),
		Exists: true, Content: []byte(w.Allowlist), ProtectedPaths: w.Protected}
}

// CheckMount reports the first invariant a mount verdict breaks.
func (w *MountWorld) CheckMount(req *protocol.MountRequest, v *protocol.MountVerdict) error {
	if !v.Allow {
		return nil
	}
	real, err := filepath.EvalSymlinks(v.HostPath)
	if err != nil || real != v.HostPath {
		return fmt.Errorf("allowed hostPath %q is not a resolved real path (%q, %v)", v.HostPath, real, err)
	}
	// The most specific root containing the path decides; of equals, a read-only one.
	var root *Root
	for i := range w.Roots {
		r := &w.Roots[i]
		if real != r.Real && !strings.HasPrefix(real, r.Real+"/") {
			continue
		}
		if root == nil || len(r.Real) > len(root.Real) || (len(r.Real) == len(root.Real) && !r.ReadWrite) {
			root = r
		}
	}
	if root == nil {
		return fmt.Errorf("allowed %q, which is outside every allowed root", real)
	}
	lower := strings.ToLower(real)
	for _, p := range w.Blocked {
		if strings.Contains(lower, strings.ToLower(p)) {
			return fmt.Errorf("allowed %q, which matches blocked pattern %q", real, p)
		}
	}
	for _, p := range w.Protected {
		lp := strings.ToLower(p)
		if lower == lp || strings.HasPrefix(lower, lp+"/") || strings.HasPrefix(lp, lower+"/") {
			return fmt.Errorf("allowed %q, which is or contains protected %q", real, p)
		}
	}
	if !v.ReadOnly {
		switch {
		case req.ReadOnly:
			return fmt.Errorf("read-write granted for a read-only request")
		case !req.IsMain && w.NonMainRO:
			return fmt.Errorf("read-write granted to non-main group %q under nonMainReadOnly", req.Group)
		case !root.ReadWrite:
			return fmt.Errorf("read-write granted under a read-only root")
		}
	}
	c := v.ContainerPath
	if !strings.HasPrefix(c, "/workspace/extra/") || path.Clean(c) != c || strings.ContainsAny(c, ":\x00") {
		return fmt.Errorf("container path %q is not a clean path under /workspace/extra", c)
	}
	return nil
}

// Groups are the registered groups of the IPC and routing worlds.
var Groups = []protocol.Group{
	{JID: "main@s.whatsapp.net", Folder: "main", Name: "Main", IsMain: true},
	{JID: "family@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true},
	{JID: "work@g.us", Folder: "work", Name: "Work", RequiresTrigger: false},
}

func folderOf(jid string) string {
	for _, g := range Groups {
		if g.JID == jid {
			return g.Folder
		}
	}
	return ""
}

// CheckIPC reports the first invariant an IPC verdict breaks: a non-main group never acts on
// another group, nobody but main registers or refreshes groups, no group is made main.
func CheckIPC(req *protocol.IPCRequest, v *protocol.IPCVerdict) error {
	if !v.Allow {
		return nil
	}
	body, err := wire.Parse(req.Request)
	if err != nil || body.Kind != wire.Object {
		return fmt.Errorf("allowed a request that is not a JSON object")
	}
	if k, dup := body.DuplicateKey(); dup {
		return fmt.Errorf("allowed a request that repeats the key %q", k)
	}
	typ, _ := body.Field("type").Str()
	str := func(k string) string { s, _ := body.Field(k).Str(); return s }
	switch typ {
	case "message":
		if req.Dir != "messages" {
			return fmt.Errorf("allowed a message outside messages/")
		}
		if !req.IsMain && folderOf(str("chatJid")) != req.Group {
			return fmt.Errorf("allowed non-main %q to message %q", req.Group, str("chatJid"))
		}
	case "schedule_task":
		if !req.IsMain && folderOf(str("targetJid")) != req.Group {
			return fmt.Errorf("allowed non-main %q to schedule for %q", req.Group, str("targetJid"))
		}
	case "pause_task", "resume_task", "cancel_task", "update_task":
		if req.TaskGroup == "" {
			return fmt.Errorf("allowed %s of a task that does not exist", typ)
		}
		if !req.IsMain && req.TaskGroup != req.Group {
			return fmt.Errorf("allowed non-main %q to %s a task of %q", req.Group, typ, req.TaskGroup)
		}
	case "register_group", "refresh_groups", "available_groups":
		if !req.IsMain {
			return fmt.Errorf("allowed non-main %q to %s", req.Group, typ)
		}
		if m, _ := body.Field("isMain").Bool(); m {
			return fmt.Errorf("allowed a registration that makes a group main")
		}
	case "list_tasks":
	default:
		return fmt.Errorf("allowed unknown request type %q", typ)
	}
	if typ != "message" && req.Dir != "tasks" {
		return fmt.Errorf("allowed %s outside tasks/", typ)
	}
	return nil
}

// CheckRoute reports the first invariant any routing verdict breaks: it must name a known
// action, and deliver only to a group folder that exists.
func CheckRoute(req *protocol.RouteRequest, v *protocol.RouteVerdict) error {
	switch v.Action {
	case protocol.ActionNone, protocol.ActionIgnore, protocol.ActionStore:
	case protocol.ActionDeliver:
		for _, g := range Groups {
			if g.Folder == v.Group {
				return nil
			}
		}
		return fmt.Errorf("delivered to %q, which is not a registered group", v.Group)
	default:
		return fmt.Errorf("unknown action %q", v.Action)
	}
	return nil
}

// CheckDelivery reports a delivery outside what the plugin's manifest grants (its deliverTo:
// the chat's own group always, "*" every group but main, main only by name). The host
// refuses such a verdict and lets the next router decide, so a plugin that makes one is
// either misconfigured or probing for a way into another group's agent.
func CheckDelivery(deliverTo []string, req *protocol.RouteRequest, v *protocol.RouteVerdict) error {
	if v.Action != protocol.ActionDeliver {
		return nil
	}
	own := ""
	if req.Group != nil {
		own = req.Group.Folder
	}
	if own != "" && v.Group == own {
		return nil
	}
	isMain := false
	for _, g := range Groups {
		isMain = isMain || (g.Folder == v.Group && g.IsMain)
	}
	for _, g := range deliverTo {
		if g == v.Group || (g == "*" && !isMain) {
			return nil
		}
	}
	return fmt.Errorf("delivered a message of chat group %q to %q, which its manifest's deliverTo %q does not grant", own, v.Group, deliverTo)
}

// CheckDefaultRoute adds the default router's own rules: unregistered chats and the
// assistant's own messages are never delivered, and delivery goes to the chat's own group.
func CheckDefaultRoute(req *protocol.RouteRequest, v *protocol.RouteVerdict) error {
	if err := CheckRoute(req, v); err != nil {
		return err
	}
	if v.Action != protocol.ActionDeliver {
		return nil
	}
	switch {
	case req.Group == nil:
		return fmt.Errorf("delivered a message from an unregistered chat")
	case req.Message.IsBotMessage:
		return fmt.Errorf("delivered the assistant's own message")
	case v.Group != req.Group.Folder:
		return fmt.Errorf("delivered to %q, not the chat's group %q", v.Group, req.Group.Folder)
	}
	return nil
}
