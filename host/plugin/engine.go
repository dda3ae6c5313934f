package plugin

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
)

// engine is what a plugin needs only while it is in use: its wazero runtime, compiled module
// and warm instances, about 15 MB for a Go guest (native code, decoded module, linear
// memories). A plugin idle for LoaderConfig.IdleRelease closes its engine and starts a new
// one from its kept module and the compilation cache on its next call.
type engine struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	pool     *pool
	// cache is this engine's own compilation cache on the loader's directory (nil without
	// one). Closing it is what frees the native code: wazero's engine keeps closed modules
	// reachable in its sorted list of compiled modules (v1.12 deletes from that slice
	// without clearing the slots past its end), so an engine shared by every plugin would
	// keep a released plugin's ~10 MB of code mapped.
	cache wazero.CompilationCache
	// live counts the instances not yet closed or whose helper is still inside a service
	// call (bounded.go); counted is signalled (without blocking) whenever it changes.
	live    atomic.Int32
	counted chan struct{}
}

// count adds an instance to live and returns what takes it off again, once.
func (e *engine) count() func() {
	e.live.Add(1)
	e.signal()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.live.Add(-1)
			e.signal()
		})
	}
}

func (e *engine) signal() {
	select {
	case e.counted <- struct{}{}:
	default:
	}
}

// close closes the instances, the runtime, the compiled module and the engine's cache.
// Callers make sure no call is in flight. (A helper still inside a service call touches
// neither guest memory nor the runtime, so it does not hold the close up.) The compiled
// module needs its own Close: with a compilation cache, closing the runtime leaves it
// referenced by the cache's engine.
func (e *engine) close(ctx context.Context) {
	if e.pool != nil {
		e.pool.close()
	}
	e.closeRuntime(ctx)
}

func (e *engine) closeRuntime(ctx context.Context) {
	_ = e.rt.Close(ctx)
	if e.compiled != nil {
		_ = e.compiled.Close(ctx)
	}
	if e.cache != nil {
		_ = e.cache.Close(ctx)
	}
}

// acquire takes p.mu for reading with an engine running, starting one first if the plugin
// released its engine while idle. It fails with errRetired on a retired generation.
func (p *Plugin) acquire(ctx context.Context) error {
	for {
		p.mu.RLock()
		if p.retired {
			p.mu.RUnlock()
			return errRetired
		}
		if p.eng != nil {
			if p.idle > 0 { // only the idle timer reads it; no clock read on calls otherwise
				p.lastUse.Store(int64(time.Since(p.LoadedAt)))
			}
			return nil
		}
		p.mu.RUnlock()
		// Resuming is shared by every caller waiting for it: one caller giving up must not
		// fail it for the others (instantiation is bounded by the interrupt timer).
		if err := p.resume(context.WithoutCancel(ctx)); err != nil {
			return p.fault(FaultResume, err)
		}
	}
}

// resume starts an engine for a plugin that released its own while idle.
func (p *Plugin) resume(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired || p.eng != nil {
		return nil
	}
	if p.restart == nil {
		return errors.New("plugin has no engine and cannot start one")
	}
	start := time.Now()
	e, err := p.restart(ctx)
	if err != nil {
		return err
	}
	p.eng = e
	p.lastUse.Store(int64(time.Since(p.LoadedAt)))
	p.idleTimer.Load().Reset(p.idle)
	p.log.Debug("plugin resumed after being idle", "took", time.Since(start))
	return nil
}

// releaseIfIdle runs from the idle timer: a plugin unused for p.idle closes its engine.
func (p *Plugin) releaseIfIdle() {
	if wait := p.idle - (time.Since(p.LoadedAt) - time.Duration(p.lastUse.Load())); wait > 0 {
		p.idleTimer.Load().Reset(wait)
		return
	}
	if p.busy != nil && p.busy() { // an agent is running: it may need the plugin any moment
		p.idleTimer.Load().Reset(p.idle)
		return
	}
	if !p.mu.TryLock() { // a call is in flight: it has just been used
		p.idleTimer.Load().Reset(p.idle)
		return
	}
	e := p.eng
	if p.retired || e == nil {
		p.mu.Unlock()
		return
	}
	p.eng = nil
	p.mu.Unlock()
	e.close(context.Background())
	if p.released != nil {
		p.released()
	}
	p.log.Debug("plugin idle: released its compiled code and instances until its next call", "idle", p.idle)
}

// Idle reports whether the plugin has released its engine while unused.
func (p *Plugin) Idle() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.eng == nil && !p.retired
}

// ReturnMemory hands what an idle release freed back to the OS; hosts pass it as
// LoaderConfig.Released. The native code is unmapped by wazero's finalizer after a
// collection, and memory reachable only from a finalizable object waits one collection
// more. Finalizers run one at a time on one goroutine, so a sentinel's finalizer from a
// later collection having run means the earlier ones have had their turn.
func ReturnMemory() {
	for range 3 {
		runtime.GC()
		ran := make(chan struct{})
		sentinel := &struct{ p *byte }{} // holds a pointer: never batched by the tiny allocator
		runtime.SetFinalizer(sentinel, func(*struct{ p *byte }) { close(ran) })
		sentinel = nil
		runtime.GC()
		select {
		case <-ran:
		case <-time.After(time.Second):
		}
	}
	debug.FreeOSMemory()
}
