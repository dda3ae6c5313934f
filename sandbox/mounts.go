package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Layout is where a run's host-side directories live.
type Layout struct {
	ProjectRoot string // the checkout; main sees it read-only at /workspace/project
	DataDir     string // data/
	// Agent is the agent-writable directories (groups/<folder>, groups/global,
	// data/sessions/<folder>) and the user agents run as; nothing here opens files in them.
	Agent *agentfs.FS
}

// Container paths.
const (
	PathProject = "/workspace/project"
	PathGroup   = "/workspace/group"
	PathGlobal  = "/workspace/global"
	PathExtra   = "/workspace/extra"
	PathHome    = "/home/node"
	PathSocket  = runproto.SocketDir // the group's agent socket, read-only
)

// ExtraMount is one additional mount from a group's container configuration, as written.
type ExtraMount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool // NanoClaw's default is true
}

// MountPolicy decides extra mounts; the plugin registry is one.
type MountPolicy interface {
	DecideMount(ctx context.Context, req *protocol.MountRequest) plugin.MountDecision
}

// RunSpec describes one run for BuildSpec.
type RunSpec struct {
	Folder string
	IsMain bool
	// SocketDir is the host directory holding the group's agent socket (agentsock); it is
	// mounted read-only, which still lets the agent connect but not replace the socket.
	SocketDir string
	Extra     []ExtraMount
	Image     string
	TZ        string
	Limits    Limits
	Now       time.Time
}

// BuildSpec assembles a run's container from the security model's privilege table:
//
//	            main                                  non-main
//	project     /workspace/project ro (.env, store/,  —
//	            data/ hidden)
//	group       /workspace/group rw                   /workspace/group rw
//	global      /workspace/global rw                  /workspace/global ro
//	home        data/sessions/<folder> rw             data/sessions/<folder> rw
//	socket      data/agents/<folder> ro: the agent    data/agents/<folder> ro
//	            socket (model API, IPC, input)
//	extra       only what the mount plugin allowed, at its resolved real path, pinned
//
// Nothing under store/ (WhatsApp credentials) and nothing of the nanoclaw config directory
// is reachable: store/ and data/ are covered inside the project mount, and extra mounts are
// the plugin's business (it refuses the host's own state, config.Paths.Protected). NanoClaw
// mounted store/ read-write into main; this does not. The container runs as Layout.Agent's
// owner (1000:1000 under a root host, else the host's own uid:gid), with HOME=/home/node.
//
// An allowed extra mount is still checked by the host (extraMount) and pinned: the spec's
// Pinned holds its directory open and the Mount carries its identity, which Run verifies
// inside the started container before sending the request. Close the spec's Pinned if the
// spec is never run.
func BuildSpec(ctx context.Context, l Layout, r RunSpec, policy MountPolicy, log hclog.Logger) (Spec, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if r.Image == "" {
		r.Image = DefaultImage
	}
	if r.Limits == (Limits{}) {
		r.Limits = DefaultLimits()
	}
	if r.TZ == "" {
		r.TZ = "UTC"
	}
	if l.Agent == nil {
		return Spec{}, errors.New("sandbox: Layout.Agent is required")
	}
	s := Spec{
		Name:  ContainerName(r.Folder, r.Now),
		Image: r.Image,
		User:  l.Agent.Owner().User(),
		// HOME is set, not left to the image: its /etc/passwd knows only uid 1000, and any
		// other uid would get HOME=/.
		Env:    []string{"TZ=" + r.TZ, "HOME=" + PathHome},
		Labels: map[string]string{LabelManaged: "true", LabelGroup: r.Folder, LabelInstance: Instance(l.ProjectRoot)},
		Limits: r.Limits,
		Tmpfs:  []Tmpfs{{Target: "/tmp", Options: "rw,exec,nosuid,nodev,size=64m"}},
	}
	if r.SocketDir == "" || !filepath.IsAbs(r.SocketDir) {
		return Spec{}, fmt.Errorf("sandbox: group %s has no agent socket directory", r.Folder)
	}
	// The group folder and session store (and groups/global for main) are made and handed
	// to the agent's user without following anything an agent left there.
	if err := l.Agent.PrepareGroup(r.Folder, r.IsMain); err != nil {
		return Spec{}, fmt.Errorf("sandbox: %w", err)
	}
	if r.IsMain {
		s.Mounts = append(s.Mounts, Mount{Source: l.ProjectRoot, Target: PathProject, ReadOnly: true})
		if _, err := os.Stat(filepath.Join(l.ProjectRoot, ".env")); err == nil {
			s.Mounts = append(s.Mounts, Mount{Source: os.DevNull, Target: PathProject + "/.env", ReadOnly: true})
		}
		for _, hidden := range []string{"store", "data"} {
			if fi, err := os.Stat(filepath.Join(l.ProjectRoot, hidden)); err == nil && fi.IsDir() {
				s.Tmpfs = append(s.Tmpfs, Tmpfs{Target: PathProject + "/" + hidden, Options: "ro,nosuid,nodev,noexec,size=1k"})
			}
		}
	}
	s.Mounts = append(s.Mounts, Mount{Source: l.Agent.GroupDir(r.Folder), Target: PathGroup})
	if global, ok := l.Agent.GlobalDir(); ok {
		s.Mounts = append(s.Mounts, Mount{Source: global, Target: PathGlobal, ReadOnly: !r.IsMain})
	}
	s.Mounts = append(s.Mounts,
		Mount{Source: l.Agent.SessionDir(r.Folder), Target: PathHome},
		Mount{Source: r.SocketDir, Target: PathSocket, ReadOnly: true},
	)
	for _, e := range r.Extra {
		d := policy.DecideMount(ctx, &protocol.MountRequest{Group: r.Folder, IsMain: r.IsMain, HostPath: e.HostPath, ContainerPath: e.ContainerPath, ReadOnly: e.ReadOnly})
		if !d.Allow {
			log.Warn("additional mount refused", "group", r.Folder, "host_path", e.HostPath, "reason", d.Reason, "plugin", d.DecidedBy)
			continue
		}
		m, f, err := extraMount(&s, d.HostPath, d.ContainerPath, d.ReadOnly)
		if err != nil {
			log.Warn("additional mount refused by the host despite the plugin's allow", "group", r.Folder, "host_path", e.HostPath,
				"reason", err.Error(), "plugin", d.DecidedBy)
			continue
		}
		if s.Pinned == nil {
			s.Pinned = &Pinned{}
		}
		s.Pinned.add(f)
		s.Mounts = append(s.Mounts, m)
	}
	if err := s.validate(); err != nil {
		_ = s.Pinned.Close()
		return Spec{}, err
	}
	return s, nil
}

// extraMount is the host's own check of an allowed verdict, whatever plugin gave it: the
// container path is absolute, clean, strictly under /workspace/extra and neither at, inside
// nor above another mount of s (a nested mount would shadow part of an approved one, and the
// engine would create its mount point inside the approved host directory); the host path is
// absolute and clean. The host path is then pinned (see mountcheck.go): the returned mount
// carries the identity to verify after start, and the file must stay open until then.
func extraMount(s *Spec, hostPath, containerPath string, readOnly bool) (Mount, *os.File, error) {
	c := containerPath
	switch {
	case !path.IsAbs(c) || path.Clean(c) != c:
		return Mount{}, nil, fmt.Errorf("container path %q is not a clean absolute path", c)
	case !strings.HasPrefix(c, PathExtra+"/"):
		return Mount{}, nil, fmt.Errorf("container path %q is not under %s/", c, PathExtra)
	case strings.ContainsRune(c, 0):
		return Mount{}, nil, fmt.Errorf("container path %q contains NUL", c)
	}
	targets := make([]string, 0, len(s.Mounts)+len(s.Tmpfs))
	for _, m := range s.Mounts {
		targets = append(targets, m.Target)
	}
	for _, t := range s.Tmpfs {
		targets = append(targets, t.Target)
	}
	for _, t := range targets {
		if c == t || strings.HasPrefix(c, t+"/") || strings.HasPrefix(t, c+"/") {
			return Mount{}, nil, fmt.Errorf("container path %s collides with the mount at %s", c, t)
		}
	}
	if !filepath.IsAbs(hostPath) || filepath.Clean(hostPath) != hostPath || strings.ContainsRune(hostPath, 0) {
		return Mount{}, nil, fmt.Errorf("host path %q is not a clean absolute path", hostPath)
	}
	f, id, err := pinDir(hostPath)
	if err != nil {
		return Mount{}, nil, err
	}
	return Mount{Source: hostPath, Target: c, ReadOnly: readOnly, Verify: &id}, f, nil
}
