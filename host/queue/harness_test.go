package queue

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// deadline bounds every wait for an event; nothing in these tests should take close to it.
const deadline = 5 * time.Second

// outcome is how a test ends a run it holds.
type outcome int

const (
	succeed outcome = iota
	fail
	panicking
)

// call is one run (message run or task) blocked until the test releases it.
type call struct {
	jid     string
	task    string // "" for a message run
	ctx     context.Context
	release chan outcome
}

// fakeClock implements Config.After: timers fire only inside Advance, in time order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*fakeTimer
}

type fakeTimer struct {
	at, d time.Duration
	f     func()
	done  bool // fired or stopped
}

func (c *fakeClock) After(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now + d, d: d, f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.done {
			return false
		}
		t.done = true
		return true
	}
}

// Advance moves the clock by d, running due timers synchronously.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	for {
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.done && t.at <= end && (next == nil || t.at < next.at) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.done, c.now = true, next.at
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = end
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t.done })
	c.mu.Unlock()
}

// Pending lists the delays the live timers were armed with.
func (c *fakeClock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, t := range c.timers {
		if !t.done {
			out = append(out, t.d)
		}
	}
	return out
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness drives a Queue whose runs block until released, and checks on every run start
// that no group has two runs and the cap holds.
type harness struct {
	t     testing.TB
	q     *Queue
	clock *fakeClock
	input *fakeInput
	calls chan *call
	done  chan string
	logs  *syncBuffer
	cap   int

	noStart atomic.Bool  // message runs do not call Started
	gaveUp  atomic.Int32 // OnGiveUp calls

	mu       sync.Mutex
	inflight map[string]int
	total    int
	runs     map[string]int // task runs by jid/taskID
}

func newHarness(t testing.TB, maxConcurrent int) *harness {
	h := &harness{
		t: t, clock: &fakeClock{}, input: newFakeInput(), cap: maxConcurrent,
		calls: make(chan *call, 1024), done: make(chan string, 1024), logs: &syncBuffer{},
		inflight: map[string]int{}, runs: map[string]int{},
	}
	h.q = New(Config{
		MaxConcurrent: maxConcurrent,
		Input:         h.input,
		ProcessMessages: func(ctx context.Context, jid string) bool {
			if !h.noStart.Load() {
				h.q.Started(jid) // as the real one does before starting its container
			}
			switch h.enter(ctx, jid, "") {
			case fail:
				return false
			case panicking:
				panic("process messages exploded")
			}
			return true
		},
		After:    h.clock.After,
		OnGiveUp: func(string) { h.gaveUp.Add(1) },
		Log:      hclog.New(&hclog.LoggerOptions{Output: h.logs, Level: hclog.Debug}),
	})
	h.q.onRunDone = func(jid string) { h.done <- jid }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("queue log:\n%s", h.logs)
		}
	})
	return h
}

// fakeInput records what the queue hands to running containers.
type fakeInput struct {
	mu     sync.Mutex
	fail   bool // no run can take input (its container is gone)
	pushed map[string][]string
	closed map[string]int
	next   int64
}

func newFakeInput() *fakeInput {
	return &fakeInput{pushed: map[string][]string{}, closed: map[string]int{}}
}

func (f *fakeInput) Push(folder, text string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, false
	}
	f.pushed[folder] = append(f.pushed[folder], text)
	f.next++
	return f.next, true
}

func (f *fakeInput) RequestClose(folder string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return false
	}
	f.closed[folder]++
	return true
}

func (f *fakeInput) texts(folder string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pushed[folder])
}

func (f *fakeInput) closes(folder string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed[folder]
}

// task returns a task function that blocks like a message run.
func (h *harness) task(jid, id string) func(context.Context) {
	return func(ctx context.Context) {
		if h.enter(ctx, jid, id) == panicking {
			panic("task exploded")
		}
	}
}

// enter records a run's start, hands it to the test and waits for its outcome.
func (h *harness) enter(ctx context.Context, jid, task string) outcome {
	h.mu.Lock()
	h.inflight[jid]++
	h.total++
	if h.inflight[jid] > 1 {
		h.t.Errorf("two runs at once for %s", jid)
	}
	if h.total > h.cap {
		h.t.Errorf("%d runs at once, cap %d", h.total, h.cap)
	}
	if task != "" {
		h.runs[jid+"/"+task]++
	}
	h.mu.Unlock()
	c := &call{jid: jid, task: task, ctx: ctx, release: make(chan outcome)}
	h.calls <- c
	o := <-c.release
	h.mu.Lock()
	h.inflight[jid]--
	h.total--
	h.mu.Unlock()
	return o
}

// next waits for the next run to start.
func (h *harness) next() *call {
	h.t.Helper()
	select {
	case c := <-h.calls:
		return c
	case <-time.After(deadline):
		h.t.Fatalf("no run started within %v", deadline)
		return nil
	}
}

// nextIs waits for the next run and checks whose it is (task "" = message run).
func (h *harness) nextIs(jid, task string) *call {
	h.t.Helper()
	c := h.next()
	if c.jid != jid || c.task != task {
		h.t.Fatalf("run started for %s task %q, want %s task %q", c.jid, c.task, jid, task)
	}
	return c
}

// finish ends c and waits until the queue has cleared it and handed its slot on.
func (h *harness) finish(c *call, o outcome) {
	h.t.Helper()
	c.release <- o
	select {
	case jid := <-h.done:
		if jid != c.jid {
			h.t.Fatalf("run of %s finished, want %s", jid, c.jid)
		}
	case <-time.After(deadline):
		h.t.Fatalf("run of %s not finished within %v", c.jid, deadline)
	}
}

// noRunStarted checks no run has been handed to the test. Only meaningful once every
// active run has been received (the queue marks a run active before starting it).
func (h *harness) noRunStarted() {
	h.t.Helper()
	select {
	case c := <-h.calls:
		h.t.Fatalf("unexpected run for %s task %q", c.jid, c.task)
	default:
	}
}

func (h *harness) expectActive(n int) {
	h.t.Helper()
	if got := h.q.ActiveCount(); got != n {
		h.t.Fatalf("ActiveCount = %d, want %d", got, n)
	}
}

func (h *harness) status(jid string) GroupStatus {
	for _, s := range h.q.Status() {
		if s.JID == jid {
			return s
		}
	}
	return GroupStatus{JID: jid}
}

func (h *harness) String() string {
	return fmt.Sprintf("status %+v waiting %v", h.q.Status(), h.q.Waiting())
}
