package credproxy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// UsageStore keeps each group's daily usage across restarts; *store.Store is one.
type UsageStore interface {
	// AddAPIUsage adds each delta to its group's row for its day.
	AddAPIUsage(ctx context.Context, deltas ...store.APIUsage) error
	// APIUsageOn returns every group's usage on day.
	APIUsageOn(ctx context.Context, day string) ([]store.APIUsage, error)
}

// storeTimeout bounds one write or the load at start.
const storeTimeout = 10 * time.Second

// usageWriter takes the store writes off the requests: settle and refused hand it a delta
// and return, and one goroutine writes what has piled up, one transaction at a time. Under
// a flood of requests (or refusals) the deltas of a group's day merge while a write is
// under way, so the store sees at most one write in flight from the proxy, however fast an
// agent sends. What is not yet written when the host dies is lost (a few milliseconds'
// worth); Close writes the rest.
type usageWriter struct {
	st  UsageStore
	log hclog.Logger

	mu      sync.Mutex
	pending map[[2]string]store.APIUsage // by group and day
	kick    chan struct{}                // buffered 1: something is pending
	quit    chan struct{}
	done    chan struct{}
	closeMu sync.Once
	err     error // the final flush's
}

func newUsageWriter(st UsageStore, log hclog.Logger) *usageWriter {
	w := &usageWriter{st: st, log: log, pending: map[[2]string]store.APIUsage{},
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// add merges d into what is pending and wakes the writer. A nil writer (no store) drops it.
func (w *usageWriter) add(d store.APIUsage) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.merge(d)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// merge adds d to the pending delta of its group and day. w.mu must be held.
func (w *usageWriter) merge(d store.APIUsage) {
	k := [2]string{d.Group, d.Day}
	p := w.pending[k]
	p.Group, p.Day = d.Group, d.Day
	p.InputTokens = satAdd(p.InputTokens, d.InputTokens)
	p.OutputTokens = satAdd(p.OutputTokens, d.OutputTokens)
	p.CacheReadTokens = satAdd(p.CacheReadTokens, d.CacheReadTokens)
	p.CacheWriteTokens = satAdd(p.CacheWriteTokens, d.CacheWriteTokens)
	p.Requests = satAdd(p.Requests, d.Requests)
	p.Refusals = satAdd(p.Refusals, d.Refusals)
	w.pending[k] = p
}

func (w *usageWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
			_ = w.flush()
		case <-w.quit:
			w.err = w.flush()
			return
		}
	}
}

// flush writes everything pending in one transaction; on failure it is kept for the next.
func (w *usageWriter) flush() error {
	w.mu.Lock()
	batch := make([]store.APIUsage, 0, len(w.pending))
	for _, d := range w.pending {
		batch = append(batch, d)
	}
	clear(w.pending)
	w.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := w.st.AddAPIUsage(ctx, batch...); err != nil {
		w.mu.Lock()
		for _, d := range batch {
			w.merge(d)
		}
		w.mu.Unlock()
		w.log.Warn("could not store API usage; will retry with the next request", "error", err)
		return fmt.Errorf("credproxy: store usage: %w", err)
	}
	return nil
}

// close writes what is pending and stops the writer.
func (w *usageWriter) close() error {
	if w == nil {
		return nil
	}
	w.closeMu.Do(func() { close(w.quit) })
	<-w.done
	return w.err
}
