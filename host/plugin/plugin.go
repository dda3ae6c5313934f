package plugin

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// BreakerThreshold is how many consecutive faults trip a plugin. A tripped plugin answers
// every call with a fault (deny, or no decision for route) until it is reloaded, or until
// its self-check passes again: every LoaderConfig.BreakerProbe the host retries the
// self-check. A plugin broken for every input stays tripped; one tripped by a burst of hostile
// inputs (an agent writing requests that crash it) recovers, so a sandboxed agent cannot
// switch off IPC for every group by crashing the policy five times.
const BreakerThreshold = 5

// DefaultBreakerProbe is how often a tripped plugin's self-check is retried by default.
const DefaultBreakerProbe = 30 * time.Second

// Plugin is one loaded generation of a plugin: a compiled module in its own runtime and a
// warm pool of instances. It is safe for concurrent calls. A hot reload builds a new Plugin
// beside it and retires this one once its in-flight calls have finished.
type Plugin struct {
	Manifest *Manifest
	Path     string // the .wasm file it was loaded from ("" for bytes)
	Hash     string // sha256 of the module bytes, hex
	Granted  []string
	LoadedAt time.Time

	rt       wazero.Runtime
	compiled wazero.CompiledModule
	pool     *pool
	logs     *guestLog
	log      hclog.Logger
	memLimit uint32
	// breakerProbe is how often a tripped plugin retries its self-check.
	breakerProbe time.Duration

	// mu is held shared by every call and exclusively by retire, so retiring waits for the
	// calls in flight and no call starts on a closed generation.
	mu      sync.RWMutex
	retired bool

	calls       atomic.Uint64
	faults      atomic.Uint64
	consecutive atomic.Int32
	tripped     atomic.Bool
	lastFault   atomic.Pointer[Fault]
}

// errRetired tells a chain that the plugin was swapped out between its snapshot and the
// call; the chain retries on the current snapshot.
var errRetired = errors.New("plugin generation retired")

// Name is the manifest name.
func (p *Plugin) Name() string { return p.Manifest.Name }

// Kind is the manifest kind.
func (p *Plugin) Kind() protocol.Kind { return p.Manifest.Kind }

// Call asks the plugin for one decision: req is the encoded request, the verdict is appended
// to out. Any failure is a *Fault; callers turn it into deny or "no decision". On the success
// path it allocates nothing beyond what wazero needs to watch the deadline.
func (p *Plugin) Call(ctx context.Context, req, out []byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.retired {
		return out, errRetired
	}
	p.calls.Add(1)
	if p.tripped.Load() {
		return out, p.fault(FaultTripped, errors.New("circuit breaker open after repeated faults; fix or reload the plugin"))
	}
	return p.call(ctx, req, out)
}

// call runs one call on a pooled instance; the caller holds p.mu for reading.
func (p *Plugin) call(ctx context.Context, req, out []byte) ([]byte, error) {
	in, ok := p.pool.get(ctx)
	if !ok {
		return out, p.fault(FaultBusy, errors.New("no instance became free in time"))
	}
	res, kind, err := in.invoke(p.Manifest.Kind.Hook(), req, out, p.Manifest.Limits.Deadline(), p.Manifest.Limits.MaxVerdictBytes, p.memLimit)
	if err == nil {
		p.pool.put(in)
		p.consecutive.Store(0)
		return res, nil
	}
	if kind.discards() {
		p.pool.replace(in)
	} else {
		p.pool.put(in)
	}
	return out, p.fault(kind, err)
}

func (p *Plugin) fault(kind FaultKind, err error) *Fault {
	f := &Fault{Plugin: p.Manifest.Name, Kind: kind, Err: err}
	if kind.counts() {
		p.faults.Add(1)
		p.lastFault.Store(f)
		if n := p.consecutive.Add(1); n >= BreakerThreshold && p.tripped.CompareAndSwap(false, true) {
			p.log.Error("plugin tripped: its kind fails closed until the plugin is fixed or reloaded", "consecutive_faults", n, "last", f.Error())
			go p.probe()
		}
	}
	if kind != FaultTripped {
		p.log.Warn("plugin call failed", "fault", string(kind), "error", err)
	}
	return f
}

// probe retries the self-check of a tripped plugin until it passes or the plugin retires.
func (p *Plugin) probe() {
	t := time.NewTicker(p.breakerProbe)
	defer t.Stop()
	for {
		select {
		case <-p.pool.stop:
			return
		case <-t.C:
		}
		p.mu.RLock()
		retired := p.retired
		var err error
		if !retired {
			err = selfCheckCall(context.Background(), p, p.call)
		}
		p.mu.RUnlock()
		if retired {
			return
		}
		if err == nil {
			p.consecutive.Store(0)
			p.tripped.Store(false)
			p.log.Info("plugin recovered: its self-check passes again")
			return
		}
	}
}

// Stats is a snapshot of a plugin's counters.
type Stats struct {
	Calls, Faults uint64
	Tripped       bool
	LastFault     string
}

// Stats reports the plugin's counters.
func (p *Plugin) Stats() Stats {
	s := Stats{Calls: p.calls.Load(), Faults: p.faults.Load(), Tripped: p.tripped.Load()}
	if f := p.lastFault.Load(); f != nil {
		s.LastFault = f.Error()
	}
	return s
}

// retire waits for the calls in flight, then closes the instances and the runtime.
func (p *Plugin) retire(ctx context.Context) {
	p.mu.Lock()
	already := p.retired
	p.retired = true
	p.mu.Unlock()
	if already {
		return
	}
	p.pool.close()
	_ = p.rt.Close(ctx)
}

// Close retires the plugin; for plugins loaded outside a Registry.
func (p *Plugin) Close(ctx context.Context) { p.retire(ctx) }

func poolSize(l Limits) int {
	if l.Instances > 0 {
		return l.Instances
	}
	return min(runtime.GOMAXPROCS(0), MaxInstances)
}
