package plugin

import (
	"context"
	"sync"
	"time"
)

// pool keeps a plugin's warm instances. Taking and returning one is a channel operation; an
// instance that faulted is closed and a replacement is instantiated in the background, never
// on the request path.
type pool struct {
	ch      chan *instance
	newInst func(context.Context) (*instance, error)
	onError func(error) // a replacement failed to instantiate

	mu     sync.Mutex
	closed bool
	stuck  int            // replaced instances whose guest has not returned yet
	wg     sync.WaitGroup // replacement goroutines
	stop   chan struct{}
}

// acquireTimeout bounds how long a call waits for a free instance. It is not the call's
// deadline: under load (a reload compiling, a burst of decisions on a pool of two) a healthy
// plugin's instances can be taken for longer than a short deadline, and a false "busy" is
// a deny.
const acquireTimeout = 2 * time.Second

func newPool(size int, newInst func(context.Context) (*instance, error), onError func(error)) *pool {
	return &pool{ch: make(chan *instance, size), newInst: newInst, onError: onError, stop: make(chan struct{})}
}

// fill instantiates n instances up front, failing if any cannot be made.
func (p *pool) fill(ctx context.Context, n int) error {
	for range n {
		in, err := p.newInst(ctx)
		if err != nil {
			return err
		}
		p.ch <- in
	}
	return nil
}

// get takes a free instance, waiting at most acquireTimeout or until ctx is done.
func (p *pool) get(ctx context.Context) (*instance, bool) {
	select {
	case in := <-p.ch:
		return in, true
	default:
	}
	t := time.NewTimer(acquireTimeout)
	defer t.Stop()
	select {
	case in := <-p.ch:
		return in, true
	case <-ctx.Done():
	case <-t.C:
	case <-p.stop:
	}
	return nil, false
}

func (p *pool) put(in *instance) { p.ch <- in }

// replace closes a faulted instance (off the request path) and starts making its
// successor. The helper of an instance whose call timed out may still be inside a service
// call (bounded.go); it stops when that returns. While more helpers are stuck that way than
// the pool holds, successors wait for them, so a service that hangs every call cannot make
// the pool instantiate (and hold memory and goroutines) without bound.
func (p *pool) replace(in *instance) {
	stuck := in.stuck()
	go in.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if stuck {
		p.stuck++
	}
	later := stuck && p.stuck > cap(p.ch)
	if !later {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.refill()
		}()
	}
	if stuck {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			select {
			case <-in.helperExited():
			case <-p.stop:
				return
			}
			p.mu.Lock()
			p.stuck--
			p.mu.Unlock()
			if later {
				p.refill()
			}
		}()
	}
}

// refill instantiates one instance into the pool, retrying with backoff until it succeeds
// or the pool closes. Callers hold p.wg.
func (p *pool) refill() {
	backoff := 50 * time.Millisecond
	for {
		in, err := p.newInst(context.Background())
		if err == nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				in.close()
				return
			}
			p.ch <- in
			return
		}
		p.onError(err)
		select {
		case <-p.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// close stops replacements and closes every instance that is in the pool. Callers must make
// sure no call is in flight (the plugin's write lock does).
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
	for {
		select {
		case in := <-p.ch:
			in.close()
		default:
			return
		}
	}
}
