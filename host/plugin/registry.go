package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Registry is the set of plugins serving now: one current generation per plugin file and one
// ordered chain per kind. Decisions read a chain snapshot without locks; loads and reloads
// are serialised and swap whole chains atomically.
type Registry struct {
	loader *Loader
	log    hclog.Logger
	bufs   buffers
	strs   interner // verdict strings, so decisions do not allocate them

	mu      sync.Mutex         // serialises changes to plugins
	plugins map[string]*Plugin // by file stem ("mountguard" for mountguard.wasm)
	// refused holds the files (by stem) refused because another plugin had their name;
	// they are tried again when a plugin leaves or changes its name.
	refused map[string]string
	chains  [4]atomic.Pointer[chain]
	retire  sync.WaitGroup
}

// ErrNameTaken marks a plugin refused because a plugin loaded from another file already has
// its name. Names are what decisions, logs, faults and key-value state are recorded under,
// so a plugin must not be able to pass for another (a route plugin named "ipcauthz").
var ErrNameTaken = errors.New("plugin name already loaded")

// NewRegistry makes an empty registry: every security kind denies until a plugin loads.
func NewRegistry(loader *Loader, log hclog.Logger) *Registry {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Registry{loader: loader, log: log, plugins: map[string]*Plugin{}, refused: map[string]string{}}
	for _, k := range protocol.Kinds() {
		r.chains[k.Hook()].Store(newChain(nil))
	}
	return r
}

func (r *Registry) chain(k protocol.Kind) *chain { return r.chains[k.Hook()].Load() }

// Stem is the key of a plugin file: its base name without extension.
func Stem(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// LoadDir loads every *.wasm in dir. A plugin that fails to load is logged and skipped; the
// returned error joins every failure so callers can report them. Files whose manifest name
// equals their file name load first, so that at startup a plugin claiming another's name
// (evil.wasm named "ipcauthz") is the one refused, whatever the alphabet says.
func (r *Registry) LoadDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("plugin directory: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) == ".wasm" {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	own := func(path string) bool {
		m, err := ReadManifest(ManifestPath(path))
		return err == nil && m.Name == Stem(path)
	}
	slices.SortStableFunc(paths, func(a, b string) int {
		oa, ob := own(a), own(b)
		switch {
		case oa && !ob:
			return -1
		case ob && !oa:
			return 1
		}
		return 0
	})
	var errs []error
	for _, p := range paths {
		if err := r.LoadFile(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LoadFile loads (or reloads) the plugin at wasmPath aside, and swaps it in only when it
// compiled, passed the import and export checks and its self-check. On failure the previous
// generation, if any, keeps serving.
func (r *Registry) LoadFile(ctx context.Context, wasmPath string) error {
	p, err := r.loader.LoadFile(ctx, wasmPath)
	return r.publish(Stem(wasmPath), p, err)
}

// LoadBytes loads a module under a manifest given by the caller (the policy CLI uses it
// for a module without a manifest) and publishes it under stem, as LoadFile does.
func (r *Registry) LoadBytes(ctx context.Context, stem string, m *Manifest, wasm []byte) error {
	p, err := r.loader.Load(ctx, m, wasm)
	return r.publish(stem, p, err)
}

// publish swaps a freshly loaded generation in under stem, or, when loading failed, leaves
// the serving one in place and says so. A plugin whose name another file's plugin has is
// refused until that one leaves; a reload of the same file is never a clash.
func (r *Registry) publish(stem string, p *Plugin, err error) error {
	r.mu.Lock()
	old := r.plugins[stem]
	if err != nil {
		if old != nil {
			r.log.Error("plugin reload failed; the previous version keeps serving", "plugin", stem, "serving_hash", short(old.Hash), "error", err)
		} else {
			r.log.Error("plugin failed to load", "plugin", stem, "error", err)
		}
		r.mu.Unlock()
		return err
	}
	if holder, holderStem := r.named(p.Name(), stem); holder != nil {
		if p.Path != "" {
			r.refused[stem] = p.Path
		}
		r.retireLater(p)
		r.mu.Unlock()
		r.log.Error("plugin refused: another plugin already has its name; it loads when that one is removed",
			"file", stem, "name", p.Name(), "kind", p.Kind(), "taken_by_file", holderStem, "taken_by_kind", holder.Kind())
		return fmt.Errorf("%w: %s (%s) is the name of the %s plugin loaded from %s; refused until that one is removed",
			ErrNameTaken, p.Name(), p.Kind(), holder.Kind(), holderStem)
	}
	delete(r.refused, stem)
	if old != nil && old.Hash == p.Hash && reflect.DeepEqual(old.Manifest, p.Manifest) && !old.tripped.Load() {
		// Nothing changed (an editor touched the file): keep the warm generation.
		r.log.Debug("plugin file touched but unchanged; the serving generation stays", "plugin", stem)
		r.retireLater(p)
		r.mu.Unlock()
		return nil
	}
	r.plugins[stem] = p
	r.rebuild()
	renamed := old != nil && old.Name() != p.Name()
	if old != nil {
		r.retireLater(old)
		r.log.Info("plugin reloaded", "plugin", p.Name(), "kind", p.Kind(), "hash", short(p.Hash), "previous", short(old.Hash))
	} else {
		r.log.Info("plugin loaded", "plugin", p.Name(), "kind", p.Kind(), "hash", short(p.Hash), "capabilities", p.Granted)
	}
	r.mu.Unlock()
	if renamed {
		r.retryRefused()
	}
	return nil
}

// named returns the plugin, loaded from a file other than stem, whose name is name.
func (r *Registry) named(name, stem string) (*Plugin, string) {
	for s, p := range r.plugins {
		if s != stem && p.Name() == name {
			return p, s
		}
	}
	return nil, ""
}

// retryRefused loads again the files refused for a name clash whose name is now free.
func (r *Registry) retryRefused() {
	r.mu.Lock()
	var retry []string
	for stem, path := range r.refused {
		m, err := ReadManifest(ManifestPath(path))
		if err != nil {
			delete(r.refused, stem) // changed since: its own watch event reloads it
			continue
		}
		if p, _ := r.named(m.Name, stem); p == nil {
			retry = append(retry, path)
		}
	}
	r.mu.Unlock()
	slices.Sort(retry)
	for _, path := range retry {
		r.log.Info("a plugin name was freed; loading the plugin refused for it", "file", Stem(path))
		_ = r.LoadFile(context.Background(), path)
	}
}

// Remove handles a plugin file that disappeared. A route plugin leaves its chain. A security
// plugin stays: deleting a file must never weaken policy silently, so the last good version
// keeps serving until the host restarts without it.
func (r *Registry) Remove(stem string) {
	r.mu.Lock()
	delete(r.refused, stem)
	p := r.plugins[stem]
	if p == nil {
		r.mu.Unlock()
		return
	}
	if p.Kind().Security() {
		r.mu.Unlock()
		r.log.Warn("plugin file removed; the last good version keeps serving so its kind is never left without policy (restart to drop it)",
			"plugin", p.Name(), "kind", p.Kind())
		return
	}
	delete(r.plugins, stem)
	r.rebuild()
	r.retireLater(p)
	r.mu.Unlock()
	r.log.Info("plugin unloaded", "plugin", p.Name(), "kind", p.Kind())
	r.retryRefused()
}

// rebuild publishes new chains from r.plugins; r.mu must be held.
func (r *Registry) rebuild() {
	for _, k := range protocol.Kinds() {
		var ps []*Plugin
		for _, p := range r.plugins {
			if p.Kind() == k {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, func(a, b *Plugin) int {
			return cmp.Or(cmp.Compare(a.Manifest.Order, b.Manifest.Order), cmp.Compare(a.Name(), b.Name()))
		})
		r.chains[k.Hook()].Store(newChain(ps))
	}
}

func (r *Registry) retireLater(p *Plugin) {
	r.retire.Add(1)
	go func() {
		defer r.retire.Done()
		p.retire(context.Background())
	}()
}

// Close retires every plugin and waits for them.
func (r *Registry) Close(ctx context.Context) {
	r.mu.Lock()
	for stem, p := range r.plugins {
		delete(r.plugins, stem)
		r.retireLater(p)
	}
	r.rebuild()
	r.mu.Unlock()
	r.retire.Wait()
}

// Info describes a loaded plugin for `nanoclaw plugin list` and status pages.
type Info struct {
	Name         string        `json:"name"`
	File         string        `json:"file"`
	Kind         protocol.Kind `json:"kind"`
	Order        int           `json:"order"`
	Hash         string        `json:"hash"`
	Capabilities []string      `json:"capabilities"`
	DeliverTo    []string      `json:"deliverTo,omitempty"` // route: groups it may deliver to besides the chat's own
	Calls        uint64        `json:"calls"`
	Faults       uint64        `json:"faults"`
	Tripped      bool          `json:"tripped"`
	Idle         bool          `json:"idle"` // released its engine while unused; the next call resumes it
	LastFault    string        `json:"lastFault,omitempty"`
	LoadedAt     string        `json:"loadedAt"`
}

// List describes every loaded plugin in chain order.
func (r *Registry) List() []Info {
	var out []Info
	for _, k := range protocol.Kinds() {
		for _, p := range r.chain(k).plugins {
			s := p.Stats()
			out = append(out, Info{
				Name: p.Name(), File: p.Path, Kind: p.Kind(), Order: p.Manifest.Order, Hash: p.Hash,
				Capabilities: p.Granted, DeliverTo: p.Manifest.DeliverTo, Calls: s.Calls, Faults: s.Faults, Tripped: s.Tripped, Idle: p.Idle(),
				LastFault: s.LastFault, LoadedAt: p.LoadedAt.UTC().Format("2006-01-02T15:04:05Z"),
			})
		}
	}
	return out
}

// Plugin returns the current generation loaded from the file with this stem.
func (r *Registry) Plugin(stem string) *Plugin {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plugins[stem]
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// Problems lists the policy documents loaded plugins report as unusable (config_problem):
// the host's way to know, and `nanoclaw status` to show, that an allowlist is invalid.
func (r *Registry) Problems() []Problem {
	r.mu.Lock()
	loaded := map[kvKey]bool{}
	for _, p := range r.plugins {
		loaded[kvKey{p.Name(), p.Kind()}] = true
	}
	r.mu.Unlock()
	return r.loader.problems.list(func(name string, kind protocol.Kind) bool { return loaded[kvKey{name, kind}] })
}

// ConfigChanged asks every plugin that reads a configuration document for one self-check
// decision, so that plugins re-read a document that changed and report (or clear) its
// problems now rather than at the next real decision. Hosts call it when a policy file
// changes; faults are ignored here (the decision is not used).
func (r *Registry) ConfigChanged() {
	r.mu.Lock()
	var ps []*Plugin
	for _, p := range r.plugins {
		if p.Manifest.Config != "" {
			ps = append(ps, p)
		}
	}
	r.mu.Unlock()
	for _, p := range ps {
		_ = selfCheck(context.Background(), p)
	}
}
