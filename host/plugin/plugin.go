package plugin

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

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

	logs     *guestLog
	log      hclog.Logger
	memLimit uint32
	// breakerProbe is how often a tripped plugin retries its self-check.
	breakerProbe time.Duration
	// startLimit bounds a new instance's _initialize (0: instantiateTimeout).
	startLimit time.Duration
	// noBreaker: faults never trip the plugin (LoaderConfig.NoBreaker).
	noBreaker bool

	// mu is held shared by every call and exclusively by retire, resume and an idle release,
	// so those wait for the calls in flight and no call starts on a closed engine.
	mu      sync.RWMutex
	retired bool
	eng     *engine       // nil after an idle release, until the next call resumes the plugin
	done    chan struct{} // closed on retire

	// Idle release (engine.go): restart builds a new engine; idle is how long an unused
	// plugin keeps its engine (0: for ever); released runs after each release; busy holds
	// releases off while the host has work in flight.
	restart   func(context.Context) (*engine, error)
	idle      time.Duration
	released  func()
	busy      func() bool
	idleTimer atomic.Pointer[time.Timer] // atomic: its own callback reads it
	lastUse   atomic.Int64               // time since LoadedAt of the last call, in ns

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
	if p.tripped.Load() {
		p.mu.RLock()
		defer p.mu.RUnlock()
		if p.retired {
			return out, errRetired
		}
		p.calls.Add(1)
		return out, p.fault(FaultTripped, errors.New("circuit breaker open after repeated faults; fix or reload the plugin"))
	}
	if err := p.acquire(ctx); err != nil {
		return out, err
	}
	defer p.mu.RUnlock()
	p.calls.Add(1)
	return p.call(ctx, req, out)
}

// call runs one call on a pooled instance; the caller holds p.mu for reading, with p.eng set.
func (p *Plugin) call(ctx context.Context, req, out []byte) ([]byte, error) {
	pool := p.eng.pool
	deadline := p.Manifest.Limits.Deadline()
	in, ok := pool.get(ctx)
	if !ok {
		return out, p.fault(FaultBusy, errors.New("no instance became free in time"))
	}
	res, kind, err := in.invoke(p.Manifest.Kind.Hook(), req, out, deadline, p.Manifest.Limits.MaxVerdictBytes, p.memLimit)
	if err == nil {
		pool.put(in)
		p.consecutive.Store(0)
		return res, nil
	}
	if kind.discards() {
		pool.replace(in)
	} else {
		pool.put(in)
	}
	return out, p.fault(kind, err)
}

func (p *Plugin) fault(kind FaultKind, err error) *Fault {
	f := &Fault{Plugin: p.Manifest.Name, Kind: kind, Err: err}
	if kind.counts() {
		p.faults.Add(1)
		p.lastFault.Store(f)
		if n := p.consecutive.Add(1); n >= BreakerThreshold && !p.noBreaker && p.tripped.CompareAndSwap(false, true) {
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
		case <-p.done:
			return
		case <-t.C:
		}
		err := p.acquire(context.Background())
		if errors.Is(err, errRetired) {
			return
		}
		if err == nil {
			err = selfCheckCall(context.Background(), p, p.call)
			p.mu.RUnlock()
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
	e := p.eng
	p.eng = nil
	p.mu.Unlock()
	if already {
		return
	}
	close(p.done)
	if t := p.idleTimer.Load(); t != nil {
		t.Stop()
	}
	if e != nil {
		e.close(ctx)
	}
}

// Close retires the plugin; for plugins loaded outside a Registry.
func (p *Plugin) Close(ctx context.Context) { p.retire(ctx) }

func poolSize(l Limits) int {
	if l.Instances > 0 {
		return l.Instances
	}
	return min(runtime.GOMAXPROCS(0), MaxInstances)
}
