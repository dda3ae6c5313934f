package plugin

import (
	"sync"
	"sync/atomic"
)

// Host functions ask services (groups, config, paths, the clock) for facts, and a service
// can wait: a lock held by a reload that reads files, a hung network filesystem under
// path_resolve. The interrupt that enforces deadlines only fires in guest code, so a guest
// blocked in a host function would hold its caller for as long as the service takes.
//
// So a service call the service cannot promise to answer at once (its Try method, when it
// has one, declined, or it has none) runs on the instance's helper goroutine, and the host
// function waits for it only until the call's deadline. Past it, the guest gets ErrIO, and
// since the interrupt is set it traps at its next loop; the call is a timeout; the instance
// is never used again, and its helper finishes the service call on its own. The guest
// itself keeps running on the caller's goroutine: handing every call to another goroutine
// cost ~8 µs of wake-ups per decision on a two-core machine, where a fast path costs nothing.

// helper runs one instance's service calls that may wait. It is started on first use and
// stops when the instance closes, or, if a call is still running then, when it returns.
type helper struct {
	op   chan func()   // a service call; closed when the instance closes
	done chan struct{} // the call returned (buffered: nobody may be waiting)
	busy atomic.Bool   // a call is running
	// exited is closed when the helper stops, so a pool waiting for a stuck instance's
	// helper hears of it.
	exited    chan struct{}
	closeOnce sync.Once
}

func newHelper() *helper {
	h := &helper{op: make(chan func()), done: make(chan struct{}, 1), exited: make(chan struct{})}
	go h.serve()
	return h
}

func (h *helper) serve() {
	defer close(h.exited)
	for op := range h.op {
		op()
		h.busy.Store(false)
		h.done <- struct{}{}
	}
}

// close stops the helper once its call in flight, if any, has returned.
func (h *helper) close() { h.closeOnce.Do(func() { close(h.op) }) }

// bounded runs op so that it does not outlast the call's deadline: on the helper, waiting
// for it until expired is closed. It reports false when the deadline came first (op may
// still be running, and must not touch guest memory: copy what it reads beforehand).
func (c *callCtx) bounded(op func()) bool {
	select {
	case <-c.expired:
		return false
	default:
	}
	if c.helper == nil {
		c.helper = newHelper()
	}
	h := c.helper
	h.busy.Store(true)
	select {
	case h.op <- op:
	case <-c.expired:
		h.busy.Store(false)
		return false
	}
	select {
	case <-h.done:
		return true
	case <-c.expired:
		return false
	}
}

// stuck reports whether the instance's helper is still inside a service call the guest
// stopped waiting for.
func (c *callCtx) stuck() bool { return c.helper != nil && c.helper.busy.Load() }
