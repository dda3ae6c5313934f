// Package sandbox runs agents in locked-down containers: the primary security boundary. It
// assembles what a run may see (the privilege table of the security model, plus the extra
// mounts the mount policy plugin allowed, re-checked, pinned and verified inside the started
// container: mountcheck.go) and talks to a Docker-compatible engine through a small Runtime
// interface.
package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Spec is everything a container is created with. It is engine-neutral: the Docker runtime
// turns it into create options, tests assert on it directly.
type Spec struct {
	Name   string            // nanoclaw-<folder>-<ms>
	Image  string            // CONTAINER_IMAGE, default nanoclaw-agent:latest
	User   string            // agentfs.Owner: 1000:1000 under a root host, else the host's uid:gid
	Env    []string          // TZ and HOME only: secrets never enter a container
	Labels map[string]string // nanoclaw.managed=true, nanoclaw.group=<folder>
	Mounts []Mount
	Tmpfs  []Tmpfs
	Limits Limits
	// Entrypoint overrides the image's (tests use it; runs do not).
	Entrypoint []string
	// Pinned holds the extra mounts' approved directories open until the run ends (see
	// mountcheck.go); the engine never sees it. Run closes it.
	Pinned *Pinned
}

// Mount is a bind mount of a host path.
type Mount struct {
	Source   string // absolute host path (resolved, for extra mounts: the plugin's verdict)
	Target   string // absolute path in the container
	ReadOnly bool
	// Verify, when set, is the directory approved for Source, pinned at decision time: the
	// host checks the container got exactly it before giving the container any work
	// (VerifyMounts). Extra mounts always carry one; the host's own mounts do not.
	Verify *FileID
}

// Tmpfs is a memory-backed writable directory in an otherwise read-only container.
type Tmpfs struct {
	Target  string
	Options string // e.g. "rw,exec,nosuid,nodev,size=64m"
}

// Limits bound what one run may consume.
type Limits struct {
	MemoryBytes int64
	NanoCPUs    int64
	Pids        int64
}

// DefaultLimits are NanoClaw-sized: room for a Go runner, bash and a few tools.
func DefaultLimits() Limits {
	return Limits{MemoryBytes: 1 << 30, NanoCPUs: 1_000_000_000, Pids: 256}
}

// Labels that mark containers this host owns, so orphans can be found after a crash.
// LabelInstance tells apart hosts sharing one engine (two checkouts, or tests running in
// parallel): a host removes only its own orphans.
const (
	LabelManaged  = "nanoclaw.managed"
	LabelGroup    = "nanoclaw.group"
	LabelInstance = "nanoclaw.instance"
)

// Instance is the instance label of the host whose project root is root.
func Instance(root string) string {
	sum := sha256.Sum256([]byte(root))
	return hex.EncodeToString(sum[:8])
}

// DefaultImage is the agent image `make image` builds.
const DefaultImage = "nanoclaw-agent:latest"

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9-]`)

// ContainerName is nanoclaw-<folder>-<ms>-<4 random hex>, with anything but letters,
// digits and '-' in the folder replaced, so the name is always a valid (and shell-safe)
// container name. The random part keeps two starts in one millisecond apart: a container
// killed before its run is still being removed by the engine when the next one starts.
func ContainerName(folder string, now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return "nanoclaw-" + nameUnsafe.ReplaceAllString(folder, "-") + "-" + strconv.FormatInt(now.UnixMilli(), 10) + "-" + hex.EncodeToString(b[:])
}

// validate refuses a spec the engine must never see: relative or overlapping targets,
// relative sources, a missing label.
func (s *Spec) validate() error {
	seen := map[string]bool{}
	for _, m := range s.Mounts {
		if len(m.Source) == 0 || m.Source[0] != '/' || len(m.Target) == 0 || m.Target[0] != '/' {
			return fmt.Errorf("mount %s -> %s: source and target must be absolute", m.Source, m.Target)
		}
		if seen[m.Target] {
			return fmt.Errorf("two mounts at %s", m.Target)
		}
		seen[m.Target] = true
	}
	if s.Labels[LabelManaged] != "true" || s.Labels[LabelGroup] == "" {
		return fmt.Errorf("container %s lacks the nanoclaw labels", s.Name)
	}
	return nil
}
