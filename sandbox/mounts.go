package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Layout is where a run's host-side directories live.
type Layout struct {
	ProjectRoot string // the checkout; main sees it read-only at /workspace/project
	GroupsDir   string // groups/: <folder>/ and global/
	DataDir     string // data/: sessions/<folder>
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
//	extra       only what the mount plugin allowed, at its resolved real path
//
// Nothing under store/ (WhatsApp credentials) and nothing of the nanoclaw config directory
// is reachable: store/ and data/ are covered inside the project mount, and extra mounts are
// the plugin's business (it refuses the config directory and store/). NanoClaw mounted
// store/ read-write into main; this does not.
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
	s := Spec{
		Name:   ContainerName(r.Folder, r.Now),
		Image:  r.Image,
		User:   AgentUser,
		Env:    []string{"TZ=" + r.TZ},
		Labels: map[string]string{LabelManaged: "true", LabelGroup: r.Folder, LabelInstance: Instance(l.ProjectRoot)},
		Limits: r.Limits,
		Tmpfs:  []Tmpfs{{Target: "/tmp", Options: "rw,exec,nosuid,nodev,size=64m"}},
	}
	if r.SocketDir == "" || !filepath.IsAbs(r.SocketDir) {
		return Spec{}, fmt.Errorf("sandbox: group %s has no agent socket directory", r.Folder)
	}
	groupDir := filepath.Join(l.GroupsDir, r.Folder)
	sessionDir := filepath.Join(l.DataDir, "sessions", r.Folder)
	for _, d := range []string{groupDir, sessionDir} {
		if err := ensureAgentDir(d); err != nil {
			return Spec{}, err
		}
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
	s.Mounts = append(s.Mounts, Mount{Source: groupDir, Target: PathGroup})
	if fi, err := os.Stat(filepath.Join(l.GroupsDir, "global")); err == nil && fi.IsDir() {
		s.Mounts = append(s.Mounts, Mount{Source: filepath.Join(l.GroupsDir, "global"), Target: PathGlobal, ReadOnly: !r.IsMain})
	}
	s.Mounts = append(s.Mounts,
		Mount{Source: sessionDir, Target: PathHome},
		Mount{Source: r.SocketDir, Target: PathSocket, ReadOnly: true},
	)
	for _, e := range r.Extra {
		d := policy.DecideMount(ctx, &protocol.MountRequest{Group: r.Folder, IsMain: r.IsMain, HostPath: e.HostPath, ContainerPath: e.ContainerPath, ReadOnly: e.ReadOnly})
		if !d.Allow {
			log.Warn("additional mount refused", "group", r.Folder, "host_path", e.HostPath, "reason", d.Reason, "plugin", d.DecidedBy)
			continue
		}
		// The verdict's path is bound as it is: nothing resolves it again between the
		// decision and the bind.
		s.Mounts = append(s.Mounts, Mount{Source: d.HostPath, Target: d.ContainerPath, ReadOnly: d.ReadOnly})
	}
	if err := s.validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// ensureAgentDir creates a directory the agent (uid 1000) writes into. The host may run as
// root: the directory is then handed to uid 1000, since the agent's writes are atomic
// renames that need write access to the directory itself.
func ensureAgentDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sandbox directory: %w", err)
	}
	if os.Getuid() == 0 {
		if err := os.Chown(dir, 1000, 1000); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("sandbox directory %s: %w", dir, err)
		}
	}
	return nil
}
