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
type guestLog struct {
	log hclog.Logger

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

// Guest log rate: a burst of logBurst lines, then logRate lines a second.
const (
	logBurst = 50
	logRate  = 10
)

func newGuestLog(l hclog.Logger) *guestLog {
	return &guestLog{log: l, tokens: logBurst}
}

func (g *guestLog) allow() (ok bool, dropped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if !g.last.IsZero() {
		g.tokens = min(logBurst, g.tokens+now.Sub(g.last).Seconds()*logRate)
	}
	g.last = now
	if g.tokens < 1 {
		g.suppressed++
		return false, 0
	}
	g.tokens--
	dropped, g.suppressed = g.suppressed, 0
	return true, dropped
}

func (g *guestLog) message(level int32, msg []byte) {
	ok, dropped := g.allow()
	if !ok {
		return
	}
	if dropped > 0 {
		g.log.Warn("plugin log rate limit: lines suppressed", "count", dropped)
	}
	text := string(bytes.TrimRight(msg, "\n"))
	switch level {
	case abi.LevelDebug:
		g.log.Debug(text)
	case abi.LevelWarn:
		g.log.Warn(text)
	case abi.LevelError:
		g.log.Error(text)
	default:
		g.log.Info(text)
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
