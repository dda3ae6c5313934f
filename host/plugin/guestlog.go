package plugin

import (
	"bytes"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
)

// guestLog carries a plugin's log calls and its stdout/stderr into the host log through a
// token bucket, so a plugin printing in a loop cannot flood the log or slow the host.
//
// Lines are queued and written by a goroutine of their own, never by the guest's call: a
// log sink that stalls (a full pipe, a stuck journald) must not hold a decision. While the
// queue is full, new lines are dropped and counted like rate-limited ones.
type guestLog struct {
	log hclog.Logger

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
	queue      []guestLine
	writing    bool // a drain goroutine is running
}

type guestLine struct {
	level   int32
	text    string
	dropped int // lines suppressed just before this one
}

// Guest log rate: a burst of logBurst lines, then logRate lines a second; at most
// maxQueued lines wait for a slow sink.
const (
	logBurst  = 50
	logRate   = 10
	maxQueued = 64
)

func newGuestLog(l hclog.Logger) *guestLog {
	return &guestLog{log: l, tokens: logBurst}
}

// allowLocked takes a token; g.mu must be held.
func (g *guestLog) allowLocked() (ok bool, dropped int) {
	now := time.Now()
	if !g.last.IsZero() {
		g.tokens = min(logBurst, g.tokens+now.Sub(g.last).Seconds()*logRate)
	}
	g.last = now
	if g.tokens < 1 || len(g.queue) >= maxQueued {
		g.suppressed++
		return false, 0
	}
	g.tokens--
	dropped, g.suppressed = g.suppressed, 0
	return true, dropped
}

// message queues one line for the host log. It never waits for the sink.
func (g *guestLog) message(level int32, msg []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ok, dropped := g.allowLocked()
	if !ok {
		return
	}
	g.queue = append(g.queue, guestLine{level: level, text: string(bytes.TrimRight(msg, "\n")), dropped: dropped})
	if !g.writing {
		g.writing = true
		go g.drain()
	}
}

// drain writes queued lines in order until the queue is empty.
func (g *guestLog) drain() {
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.queue = g.queue[:0:0] // let a burst's backing array go
			g.writing = false
			g.mu.Unlock()
			return
		}
		l := g.queue[0]
		g.queue = g.queue[1:]
		g.mu.Unlock()
		g.write(l)
	}
}

func (g *guestLog) write(l guestLine) {
	if l.dropped > 0 {
		g.log.Warn("plugin log rate limit: lines suppressed", "count", l.dropped)
	}
	switch l.level {
	case abi.LevelDebug:
		g.log.Debug(l.text)
	case abi.LevelWarn:
		g.log.Warn(l.text)
	case abi.LevelError:
		g.log.Error(l.text)
	default:
		g.log.Info(l.text)
	}
}

// lineWriter splits a guest's stdout or stderr into lines for guestLog. One per instance, so
// lines of concurrent instances never interleave.
type lineWriter struct {
	g     *guestLog
	level int32
	mu    sync.Mutex
	buf   []byte
}

const maxLine = 4 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLine {
				w.g.message(w.level, w.buf[:maxLine])
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.g.message(w.level, w.buf[:i])
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
}
