package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

const closeSentinel = "_close"

// inputDir watches <ipc>/input for follow-up messages ({"type":"message","text":...} in
// *.json, written atomically by the host) and the _close sentinel.
type inputDir struct {
	dir     string
	logf    func(string, ...any)
	watcher *fsnotify.Watcher
	notify  chan struct{} // buffered 1: "something changed, look again"
	poll    time.Duration // only used if fsnotify could not start
	done    chan struct{}
}

func openInputDir(dir string, logf func(string, ...any)) *inputDir {
	d := &inputDir{dir: dir, logf: logf, notify: make(chan struct{}, 1), done: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("cannot create input dir %s: %v", dir, err)
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(dir)
		if err != nil {
			w.Close()
		}
	}
	if err != nil {
		// Fallback only: fsnotify is the normal path.
		logf("fsnotify unavailable on %s (%v); polling every 500ms", dir, err)
		d.poll = 500 * time.Millisecond
		return d
	}
	d.watcher = w
	go d.loop()
	return d
}

func (d *inputDir) loop() {
	defer close(d.done)
	for {
		select {
		case ev, ok := <-d.watcher.Events:
			if !ok {
				return
			}
			base := filepath.Base(ev.Name)
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) || ev.Has(fsnotify.Rename) {
				if base == closeSentinel || strings.HasSuffix(base, ".json") {
					d.poke()
				}
			}
		case err, ok := <-d.watcher.Errors:
			if !ok {
				return
			}
			d.logf("input watcher: %v", err)
			d.poke() // an overflow may have hidden an event: look again
		}
	}
}

func (d *inputDir) poke() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

func (d *inputDir) close() {
	if d.watcher != nil {
		d.watcher.Close()
		<-d.done
	}
}

// removeStaleClose deletes a _close left over from an earlier run.
func (d *inputDir) removeStaleClose() {
	_ = os.Remove(filepath.Join(d.dir, closeSentinel))
}

// takeClose reports whether _close is present, and consumes it.
func (d *inputDir) takeClose() bool {
	p := filepath.Join(d.dir, closeSentinel)
	if _, err := os.Stat(p); err != nil {
		return false
	}
	_ = os.Remove(p)
	return true
}

// drain reads, deletes and returns the texts of all pending *.json messages, oldest first
// (names start with the unix-ms time, so name order is chronological).
func (d *inputDir) drain() []string {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.logf("reading input dir: %v", err)
		}
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var texts []string
	for _, n := range names {
		p := filepath.Join(d.dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			d.logf("reading input %s: %v", n, err)
			continue
		}
		if err := os.Remove(p); err != nil {
			d.logf("deleting input %s: %v", n, err)
		}
		var m struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			d.logf("dropping unparsable input %s: %v", n, err)
			continue
		}
		if m.Type == "message" && m.Text != "" {
			texts = append(texts, m.Text)
		}
	}
	return texts
}

// wait blocks until follow-up messages arrive (returned joined by "\n", as NanoClaw does),
// or _close appears or ctx ends (closed = true).
func (d *inputDir) wait(ctx context.Context) (text string, closed bool) {
	for {
		if d.takeClose() {
			return "", true
		}
		if texts := d.drain(); len(texts) > 0 {
			return strings.Join(texts, "\n"), false
		}
		var tick <-chan time.Time
		var t *time.Timer
		if d.poll > 0 {
			t = time.NewTimer(d.poll)
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return "", true
		case <-d.notify:
		case <-tick:
		}
		if t != nil {
			t.Stop()
		}
	}
}
