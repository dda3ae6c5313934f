package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Event reports the outcome of one reload triggered by the watcher.
type Event struct {
	Stem    string
	Removed bool  // the .wasm is gone
	Err     error // the load failed; the previous generation (if any) keeps serving
}

// settle is how long the watcher waits after the last event for a file before loading it:
// copying a file produces several events, and loading a half-written one only to reject it
// would log a spurious error.
const settle = 20 * time.Millisecond

// Watch reloads plugins as their files in dir change, until ctx is done. It reacts to
// filesystem events (no polling). onEvent, if not nil, hears about every reload.
func (r *Registry) Watch(ctx context.Context, dir string, onEvent func(Event)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("plugin watcher: %w", err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	q := newStemQueue()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			stem, ok := q.next(ctx)
			if !ok {
				return
			}
			ev := r.reloadStem(ctx, dir, stem)
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}()
	defer wg.Wait()
	timers := map[string]*time.Timer{}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Error("plugin watcher error", "error", err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			ext := filepath.Ext(ev.Name)
			if ext != ".wasm" && ext != ".json" {
				continue
			}
			stem := Stem(ev.Name)
			if t, ok := timers[stem]; ok {
				t.Reset(settle)
				continue
			}
			timers[stem] = time.AfterFunc(settle, func() { q.push(stem) })
		}
	}
}

func (r *Registry) reloadStem(ctx context.Context, dir, stem string) Event {
	wasm := filepath.Join(dir, stem+".wasm")
	if _, err := os.Stat(wasm); errors.Is(err, fs.ErrNotExist) {
		r.Remove(stem)
		return Event{Stem: stem, Removed: true}
	}
	return Event{Stem: stem, Err: r.LoadFile(ctx, wasm)}
}

// stemQueue is a FIFO set of stems waiting for a reload: a stem already waiting is not
// queued twice.
type stemQueue struct {
	mu      sync.Mutex
	order   []string
	pending map[string]bool
	wake    chan struct{}
}

func newStemQueue() *stemQueue {
	return &stemQueue{pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (q *stemQueue) push(stem string) {
	q.mu.Lock()
	if !q.pending[stem] {
		q.pending[stem] = true
		q.order = append(q.order, stem)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *stemQueue) next(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		if len(q.order) > 0 {
			s := q.order[0]
			q.order = q.order[1:]
			delete(q.pending, s)
			q.mu.Unlock()
			return s, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-q.wake:
		}
	}
}
