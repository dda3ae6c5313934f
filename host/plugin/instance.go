package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/guestclock"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/interrupt"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/mmapmem"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
)

// callCtx is the context every call into one instance runs under: made once per instance
// and reused, so a call allocates no context. Host functions find the instance's scratch
// buffer through it, and what they need to bound a service call by the deadline
// (bounded.go).
type callCtx struct {
	scratch []byte
	expired chan struct{} // closed when the instance's deadline timer fires
	helper  *helper       // runs service calls that may wait; nil until first needed
}

func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *callCtx) Done() <-chan struct{}       { return nil }
func (c *callCtx) Err() error                  { return nil }
func (c *callCtx) Value(any) any               { return nil }

// instance is one warm, initialised module with its handles looked up once.
type instance struct {
	mod    api.Module
	mem    api.Memory
	call   api.Function
	stack  []uint64
	bufPtr uint32
	bufCap uint32
	ctx    callCtx
	clock  guestclock.Clock // what WASI's clocks and sleeps see (guestclock explains)
	// timer raises the module's interrupt global when a call overruns its deadline; the
	// guest traps at its next loop header (see internal/interrupt), and a host function
	// waiting for a service gives up (bounded.go). An instance whose timer fired is thrown
	// away, so neither needs resetting.
	timer *time.Timer
	fired atomic.Bool
	// release ends the engine's count of this instance: when it is closed and its helper
	// has returned.
	release func()
}

// FaultKind classifies what went wrong inside a plugin.
type FaultKind string

// Fault kinds. Every one ends in deny (security kinds) or no decision (route).
const (
	FaultTrap      FaultKind = "trap"      // the guest trapped or exited
	FaultTimeout   FaultKind = "timeout"   // the per-call deadline passed
	FaultMemory    FaultKind = "memory"    // the guest ran out of its memory cap
	FaultMalformed FaultKind = "malformed" // a reply outside the ABI: bad status, bad length, bad verdict
	FaultError     FaultKind = "error"     // the guest reported an error (status 1)
	FaultTooLarge  FaultKind = "too-large" // the verdict is over the size cap
	FaultBusy      FaultKind = "busy"      // no instance became free in time
	FaultResume    FaultKind = "resume"    // the plugin could not start again after being idle
	FaultTripped   FaultKind = "tripped"   // the circuit breaker is open
	FaultRequest   FaultKind = "request"   // the request is over the size cap (not the plugin's fault)
)

// Fault is a failed plugin call.
type Fault struct {
	Plugin string
	Kind   FaultKind
	Err    error
}

func (f *Fault) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", f.Plugin, f.Kind, f.Err)
}

func (f *Fault) Unwrap() error { return f.Err }

// discards reports whether the instance must be thrown away after this fault: after a trap,
// a timeout or an out-of-memory the guest's state is unsound even if it still answers.
func (k FaultKind) discards() bool {
	return k == FaultTrap || k == FaultTimeout || k == FaultMemory || k == FaultMalformed
}

// counts reports whether the fault is the plugin's doing and counts toward its breaker.
func (k FaultKind) counts() bool {
	return k != FaultRequest && k != FaultBusy && k != FaultTripped
}

var errInitTimeout = errors.New("guest code exceeded its time limit while starting")

// instantiateTimeout bounds a new instance's _initialize, which runs guest code too.
const instantiateTimeout = 10 * time.Second

// newInstance instantiates and checks one instance of p's module in engine e. Its
// _initialize and the ABI probes run guest code, so they run under the interrupt timer too.
func (p *Plugin) newInstance(ctx context.Context, e *engine) (*instance, error) {
	in := &instance{stack: make([]uint64, 2), ctx: callCtx{scratch: make([]byte, 0, 512), expired: make(chan struct{})}}
	// No real clock, no real sleep: a guest that sleeps or polls returns at once and sees
	// its fake clock advance (guestclock), so WASI cannot hold a call past its deadline.
	res := sys.ClockResolution(guestclock.Resolution)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithWalltime(in.clock.Walltime, res).
		WithNanotime(in.clock.Nanotime, res).
		WithNanosleep(in.clock.Nanosleep).
		WithOsyield(guestclock.Osyield).
		WithStdout(&lineWriter{g: p.logs, level: abi.LevelInfo}).
		WithStderr(&lineWriter{g: p.logs, level: abi.LevelWarn})
	// Linear memory is a mapping reserved at the cap, so growth never copies (mmapmem).
	mod, err := e.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, mmapmem.Allocator{}), e.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	flag, ok := mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
	if !ok {
		_ = mod.Close(context.Background())
		return nil, errors.New("interrupt global missing")
	}
	in.mod, in.mem = mod, mod.Memory()
	in.timer = time.AfterFunc(time.Hour, func() {
		if in.fired.CompareAndSwap(false, true) {
			flag.Set(1)
			close(in.ctx.expired)
		}
	})
	in.timer.Stop()
	in.release = e.count()
	if err := p.checkInstance(in, p.initTimeout()); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

func (p *Plugin) initTimeout() time.Duration {
	if p.startLimit > 0 {
		return p.startLimit
	}
	return instantiateTimeout
}

// checkInstance runs _initialize and reads the ABI exports.
func (p *Plugin) checkInstance(in *instance, initLimit time.Duration) error {
	mod := in.mod
	guarded := func(name string, limit time.Duration) (uint64, error) {
		fn := mod.ExportedFunction(name)
		err, timedOut := in.run(fn, limit)
		if timedOut {
			return 0, fmt.Errorf("%s: %w", name, errInitTimeout)
		}
		if err != nil {
			return 0, fmt.Errorf("call %s: %w", name, err)
		}
		if len(fn.Definition().ResultTypes()) == 0 {
			return 0, nil
		}
		return in.stack[0], nil
	}
	if mod.ExportedFunction(abi.ExportInitialize) != nil {
		if _, err := guarded(abi.ExportInitialize, initLimit); err != nil {
			return err
		}
	}
	probe := p.Manifest.Limits.Deadline()
	ver, err := guarded(abi.ExportVersion, probe)
	if err != nil {
		return err
	}
	if int32(ver) != abi.Version {
		return fmt.Errorf("%s reports ABI version %d, this host speaks %d", abi.ExportVersion, int32(ver), abi.Version)
	}
	ptr, err := guarded(abi.ExportBuffer, probe)
	if err != nil {
		return err
	}
	size, err := guarded(abi.ExportBufferCap, probe)
	if err != nil {
		return err
	}
	if in.mem == nil {
		return errors.New("module has no memory")
	}
	in.bufPtr, in.bufCap = uint32(ptr), uint32(size)
	if in.bufCap < 1024 || uint64(in.bufPtr)+uint64(in.bufCap) > uint64(in.mem.Size()) {
		return fmt.Errorf("mailbox [%d, +%d) must be at least 1 KiB and inside memory (%d bytes)", in.bufPtr, in.bufCap, in.mem.Size())
	}
	in.call = mod.ExportedFunction(abi.ExportCall)
	return nil
}

// run calls fn (arguments and results in in.stack) under a deadline of limit. timedOut
// means the deadline passed: the guest was stopped, or returned after a host function gave
// up waiting for a service; either way the instance must be replaced, never reused. It
// allocates nothing.
func (in *instance) run(fn api.Function, limit time.Duration) (err error, timedOut bool) {
	in.timer.Reset(limit)
	err = fn.CallWithStack(&in.ctx, in.stack)
	if !in.timer.Stop() || in.fired.Load() {
		return nil, true
	}
	return err, false
}

// invoke makes one call. It copies the request into the mailbox, runs policy_call under the
// deadline and appends the verdict to out. It allocates nothing.
func (in *instance) invoke(hook abi.Hook, req, out []byte, deadline time.Duration, maxVerdict int, memLimit uint32) ([]byte, FaultKind, error) {
	if len(req) > int(in.bufCap) {
		return out, FaultRequest, fmt.Errorf("request of %d bytes exceeds the plugin's %d-byte mailbox", len(req), in.bufCap)
	}
	if !in.mem.Write(in.bufPtr, req) {
		return out, FaultMalformed, errors.New("mailbox no longer inside memory")
	}
	in.stack[0], in.stack[1] = uint64(hook), uint64(len(req))
	err, timedOut := in.run(in.call, deadline)
	if timedOut {
		return out, FaultTimeout, fmt.Errorf("call exceeded its %v deadline", deadline)
	}
	if err != nil {
		if in.mem.Size() >= memLimit/4*3 || strings.Contains(err.Error(), "mallocgc") {
			return out, FaultMemory, fmt.Errorf("guest exhausted its %d MiB memory cap: %w", memLimit>>20, err)
		}
		return out, FaultTrap, err
	}
	status, n := abi.Status(in.stack[0]>>32), uint32(in.stack[0])
	switch status {
	case abi.StatusOK:
	case abi.StatusError:
		msg, ok := in.mem.Read(in.bufPtr, min(n, in.bufCap, 1024))
		if !ok || n > in.bufCap {
			return out, FaultMalformed, fmt.Errorf("error reply length %d outside the mailbox", n)
		}
		return out, FaultError, fmt.Errorf("plugin reported: %s", msg)
	case abi.StatusTooLarge:
		return out, FaultTooLarge, fmt.Errorf("verdict of %d bytes does not fit the mailbox", n)
	default:
		return out, FaultMalformed, fmt.Errorf("unknown status %d", status)
	}
	if n > in.bufCap {
		return out, FaultMalformed, fmt.Errorf("verdict length %d outside the %d-byte mailbox", n, in.bufCap)
	}
	if int(n) > maxVerdict {
		return out, FaultTooLarge, fmt.Errorf("verdict of %d bytes exceeds the %d-byte cap", n, maxVerdict)
	}
	v, ok := in.mem.Read(in.bufPtr, n)
	if !ok {
		return out, FaultMalformed, errors.New("verdict outside memory")
	}
	return append(out, v...), "", nil
}

// close closes the module and stops the helper, which returns first if it is still inside
// a service call the guest gave up on (that call never touches guest memory). The engine
// counts the instance until both are done.
func (in *instance) close() {
	in.timer.Stop()
	_ = in.mod.Close(context.Background())
	h := in.ctx.helper
	if h == nil {
		in.release()
		return
	}
	h.close()
	select {
	case <-h.exited:
		in.release()
	default:
		go func() {
			<-h.exited
			in.release()
		}()
	}
}

// stuck reports whether the instance's helper is still inside a service call the guest
// stopped waiting for at the deadline.
func (in *instance) stuck() bool { return in.ctx.stuck() }

// helperExited is closed once the helper of a stuck instance has stopped.
func (in *instance) helperExited() <-chan struct{} { return in.ctx.helper.exited }
