package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Manifest describes a plugin: the JSON file beside its .wasm (foo.wasm + foo.json).
type Manifest struct {
	Name         string        `json:"name"`
	Kind         protocol.Kind `json:"kind"`
	ABI          int           `json:"abi"`
	Capabilities []string      `json:"capabilities"`
	Limits       Limits        `json:"limits"`
	// Order places the plugin in its kind's chain: lower runs first. The default router
	// uses 1000 so custom routers (default 100) run before it.
	Order int `json:"order"`
	// Config names the configuration document the config capability reads, for example
	// "mount-allowlist". Empty means the plugin has none.
	Config string `json:"config,omitempty"`
	// DeliverTo (route plugins only) names the group folders the plugin may deliver a
	// message to other than the chat's own group: "*" for any group but the main one, which
	// only its own folder's name grants. Empty: only the chat's own group (delivery.go).
	DeliverTo   []string `json:"deliverTo,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Limits bound what one plugin may use. Zero fields take the defaults.
type Limits struct {
	MemoryMiB       int `json:"memoryMiB"`       // linear memory cap per instance
	DeadlineMs      int `json:"deadlineMs"`      // wall time per call
	MaxRequestBytes int `json:"maxRequestBytes"` // larger requests are refused before the call
	MaxVerdictBytes int `json:"maxVerdictBytes"` // larger verdicts are malformed
	Instances       int `json:"instances"`       // warm pool size; 0 means GOMAXPROCS
}

// Defaults and ceilings for Limits.
const (
	DefaultMemoryMiB       = 32
	MaxMemoryMiB           = 256
	DefaultDeadline        = 250 * time.Millisecond
	MaxDeadline            = 5 * time.Second
	DefaultMaxRequestBytes = 64 << 10
	DefaultMaxVerdictBytes = 16 << 10
	MaxInstances           = 16
)

var nameRule = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// folderRule is the host's rule for group folders (host/daemon), which deliverTo names.
var folderRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Deadline is the per-call deadline with the default applied.
func (l Limits) Deadline() time.Duration {
	if l.DeadlineMs <= 0 {
		return DefaultDeadline
	}
	return time.Duration(l.DeadlineMs) * time.Millisecond
}

func (l Limits) withDefaults() Limits {
	if l.MemoryMiB == 0 {
		l.MemoryMiB = DefaultMemoryMiB
	}
	if l.DeadlineMs == 0 {
		l.DeadlineMs = int(DefaultDeadline / time.Millisecond)
	}
	if l.MaxRequestBytes == 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxVerdictBytes == 0 {
		l.MaxVerdictBytes = DefaultMaxVerdictBytes
	}
	return l
}

// ErrManifest marks a manifest that cannot be used.
var ErrManifest = errors.New("invalid plugin manifest")

// ParseManifest decodes and validates a manifest, applying defaults. Unknown fields are an
// error: a misspelt limit must not silently fall back to a default. So is a repeated key:
// encoding/json keeps the last copy, and an operator reviewing "capabilities": ["log"] or
// "deliverTo" must not miss a second one further down.
func ParseManifest(data []byte) (*Manifest, error) {
	if v, err := wire.Parse(data); err == nil {
		if k, dup := v.DuplicateKey(); dup {
			return nil, fmt.Errorf("%w: repeats the key %q", ErrManifest, k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrManifest)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	m.Limits = m.Limits.withDefaults()
	if len(m.DeliverTo) == 0 {
		m.DeliverTo = nil // [] and absent mean the same
	}
	if m.Order == 0 {
		m.Order = 100
	}
	return &m, nil
}

// ReadManifest reads and parses the manifest file at path.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func (m *Manifest) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrManifest, fmt.Sprintf(format, args...))
	}
	if !nameRule.MatchString(m.Name) {
		return bad("name %q must match %s", m.Name, nameRule)
	}
	if !m.Kind.Valid() {
		return bad("kind %q must be one of mount, ipc, route", m.Kind)
	}
	if m.ABI != abi.Version {
		return bad("abi %d is not supported (this host speaks abi %d)", m.ABI, abi.Version)
	}
	for _, c := range m.Capabilities {
		if !slices.Contains(abi.Capabilities(), c) {
			return bad("unknown capability %q (known: %s)", c, strings.Join(abi.Capabilities(), ", "))
		}
	}
	l := m.Limits
	switch {
	case l.MemoryMiB < 0 || l.MemoryMiB > MaxMemoryMiB:
		return bad("limits.memoryMiB %d outside 1..%d", l.MemoryMiB, MaxMemoryMiB)
	case l.DeadlineMs < 0 || int64(l.DeadlineMs) > MaxDeadline.Milliseconds():
		return bad("limits.deadlineMs %d outside 1..%d", l.DeadlineMs, MaxDeadline.Milliseconds())
	case l.MaxRequestBytes < 0 || l.MaxVerdictBytes < 0:
		return bad("limits on request and verdict size must be positive")
	case l.Instances < 0 || l.Instances > MaxInstances:
		return bad("limits.instances %d outside 0..%d", l.Instances, MaxInstances)
	}
	if m.Config != "" && !nameRule.MatchString(m.Config) {
		return bad("config %q must match %s", m.Config, nameRule)
	}
	if len(m.DeliverTo) > 0 && m.Kind != protocol.KindRoute {
		return bad("deliverTo is for route plugins, not %s", m.Kind)
	}
	for _, g := range m.DeliverTo {
		if g != AnyGroup && !folderRule.MatchString(g) {
			return bad("deliverTo %q must be %q or a group folder (%s)", g, AnyGroup, folderRule)
		}
	}
	return nil
}

// Grants is the operator's side of capabilities: which capabilities each kind may be given.
// A plugin gets the intersection of what its manifest asks for and what its kind is granted.
type Grants map[protocol.Kind][]string

// DefaultGrants allows each kind what its job needs and nothing else: only the mount guard
// may inspect host paths; routing and IPC may look up groups.
func DefaultGrants() Grants {
	return Grants{
		protocol.KindMount: {abi.CapLog, abi.CapClock, abi.CapPath, abi.CapConfig, abi.CapKV},
		protocol.KindIPC:   {abi.CapLog, abi.CapClock, abi.CapGroups, abi.CapConfig, abi.CapKV},
		protocol.KindRoute: {abi.CapLog, abi.CapClock, abi.CapGroups, abi.CapConfig, abi.CapKV},
	}
}

// granted returns the capabilities m may use, or an error naming the first one it asks for
// that the operator does not grant its kind.
func (g Grants) granted(m *Manifest) ([]string, error) {
	allowed := g[m.Kind]
	for _, c := range m.Capabilities {
		if !slices.Contains(allowed, c) {
			return nil, fmt.Errorf("%w: capability %q is not granted to %s plugins (granted: %s)",
				ErrManifest, c, m.Kind, strings.Join(allowed, ", "))
		}
	}
	return m.Capabilities, nil
}
