package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Layout is where a run's host-side directories live.
type Layout struct {
	ProjectRoot string // the checkout; main sees it read-only at /workspace/project
	GroupsDir   string // groups/: <folder>/ and global/
	DataDir     string // data/: sessions/<folder>, ipc/<folder>, proxy/<folder>
}

// Container paths.
const (
	PathProject = "/workspace/project"
	PathGroup   = "/workspace/group"
	PathGlobal  = "/workspace/global"
	PathIPC     = "/workspace/ipc"
	PathExtra   = "/workspace/extra"
	PathHome    = "/home/node"
	PathProxy   = "/run/proxy"
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
	Extra  []ExtraMount
	Image  string
	TZ     string
	Limits Limits
	Now    time.Time
}

// BuildSpec assembles a run's container from the security model's privilege table:
//
//	            main                                  non-main
//	project     /workspace/project ro (.env, store/,  —
//	            data/ hidden)
//	group       /workspace/group rw                   /workspace/group rw
//	global      /workspace/global rw                  /workspace/global ro
//	home        data/sessions/<folder> rw             data/sessions/<folder> rw
//	ipc         data/ipc/<folder> rw                  data/ipc/<folder> rw
//	proxy       data/proxy/<folder> (model API)       data/proxy/<folder>
//	extra       only what the mount plugin allowed, at its resolved real path, pinned
//
// Nothing under store/ (WhatsApp credentials) and nothing of the nanoclaw config directory
// is reachable: store/ and data/ are covered inside the project mount, and extra mounts are
// the plugin's business (it refuses the host's own state, config.Paths.Protected). NanoClaw
// mounted store/ read-write into main; this does not.
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
	s := Spec{
		Name:   ContainerName(r.Folder, r.Now),
		Image:  r.Image,
		User:   AgentUser,
		Env:    []string{"TZ=" + r.TZ},
		Labels: map[string]string{LabelManaged: "true", LabelGroup: r.Folder, LabelInstance: Instance(l.ProjectRoot)},
		Limits: r.Limits,
		Tmpfs:  []Tmpfs{{Target: "/tmp", Options: "rw,exec,nosuid,nodev,size=64m"}},
	}
	groupDir := filepath.Join(l.GroupsDir, r.Folder)
	sessionDir := filepath.Join(l.DataDir, "sessions", r.Folder)
	ipcDir := filepath.Join(l.DataDir, "ipc", r.Folder)
	proxyDir := filepath.Join(l.DataDir, "proxy", r.Folder)
	for _, d := range []string{groupDir, sessionDir, filepath.Join(ipcDir, "messages"), filepath.Join(ipcDir, "tasks"), filepath.Join(ipcDir, "input"), proxyDir} {
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
		Mount{Source: ipcDir, Target: PathIPC},
		Mount{Source: proxyDir, Target: PathProxy},
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
