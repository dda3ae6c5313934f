package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	g1, g2, g3, g4 = "group1@g.us", "group2@g.us", "group3@g.us", "group4@g.us"
)

// folderOf names a test group's folder: group1@g.us → group1.
func folderOf(jid string) string { return strings.TrimSuffix(jid, "@g.us") }

func (h *harness) enqueue(jid string) { h.q.EnqueueMessageCheck(jid, folderOf(jid)) }

func (h *harness) enqueueTask(jid, id string) bool {
	return h.q.EnqueueTask(jid, folderOf(jid), id, h.task(jid, id))
}

func (h *harness) closeWritten(jid string) bool {
	return h.input.closes(folderOf(jid)) > 0
}

func TestOneContainerPerGroup(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	h.enqueue(g1)
	h.expectActive(1)
	if s := h.status(g1); !s.Active || !s.PendingMessages {
		t.Fatalf("second check should wait behind the running one: %+v", s)
	}
	first := h.nextIs(g1, "")
	h.noRunStarted()
	h.finish(first, succeed)
	second := h.nextIs(g1, "") // the pending check drains as soon as the first ends
	h.finish(second, succeed)
	h.expectActive(0)
	if st := h.q.Status(); len(st) != 0 {
		t.Fatalf("idle queue still holds state: %+v", st)
	}
}

func TestGlobalCapAndSlotRelease(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	h.enqueue(g2)
	h.enqueue(g3)
	h.expectActive(2)
	if w := h.q.Waiting(); !slices.Equal(w, []string{g3}) {
		t.Fatalf("Waiting = %v, want [%s]", w, g3)
	}
	h.enqueue(g3) // already waiting: not added twice
	if w := h.q.Waiting(); len(w) != 1 {
		t.Fatalf("Waiting = %v, want one entry", w)
	}
	a, b := h.next(), h.next()
	h.noRunStarted()
	if a.jid == g3 || b.jid == g3 {
		t.Fatalf("third group ran over the cap")
	}
	h.finish(a, succeed)
	c := h.nextIs(g3, "")
	h.expectActive(2)
	if w := h.q.Waiting(); len(w) != 0 {
		t.Fatalf("Waiting = %v after drain", w)
	}
	h.finish(b, succeed)
	h.finish(c, succeed)
	h.expectActive(0)
}

func TestTasksDrainBeforeMessages(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	first := h.nextIs(g1, "")
	if !h.enqueueTask(g1, "task-1") {
		t.Fatal("task rejected")
	}
	h.enqueue(g1)
	if s := h.status(g1); s.PendingTasks != 1 || !s.PendingMessages {
		t.Fatalf("status %+v", s)
	}
	h.finish(first, succeed)
	task := h.nextIs(g1, "task-1") // the task goes first...
	if s := h.status(g1); !s.IsTask || s.RunningTaskID != "task-1" || !s.PendingMessages {
		t.Fatalf("status while the task runs: %+v", s)
	}
	h.finish(task, succeed)
	h.finish(h.nextIs(g1, ""), succeed) // ...then the messages
	h.expectActive(0)
}

func TestRetryBackoff(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	h.finish(h.nextIs(g1, ""), fail)
	if p := h.clock.Pending(); !slices.Equal(p, []time.Duration{5 * time.Second}) {
		t.Fatalf("first retry armed %v, want [5s]", p)
	}
	if s := h.status(g1); s.RetryCount != 1 || s.Active {
		t.Fatalf("status %+v", s)
	}
	h.clock.Advance(5*time.Second - time.Millisecond)
	h.expectActive(0)
	h.clock.Advance(time.Millisecond)
	h.expectActive(1)
	h.finish(h.nextIs(g1, ""), fail)
	if p := h.clock.Pending(); !slices.Equal(p, []time.Duration{10 * time.Second}) {
		t.Fatalf("second retry armed %v, want [10s]", p)
	}
	h.clock.Advance(10 * time.Second)
	h.finish(h.nextIs(g1, ""), succeed)
	if s := h.status(g1); s.RetryCount != 0 {
		t.Fatalf("success did not reset the retry count: %+v", s)
	}
	if p := h.clock.Pending(); len(p) != 0 {
		t.Fatalf("timers left after success: %v", p)
	}
}

func TestMaxRetriesThenStop(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	h.finish(h.nextIs(g1, ""), fail)
	calls := 1
	for i, d := range []time.Duration{5, 10, 20, 40, 80} {
		d *= time.Second
		if p := h.clock.Pending(); !slices.Equal(p, []time.Duration{d}) {
			t.Fatalf("retry %d armed %v, want [%v]", i+1, p, d)
		}
		h.clock.Advance(d)
		h.finish(h.nextIs(g1, ""), fail)
		calls++
	}
	if calls != 6 {
		t.Fatalf("%d calls, want 6 (first run + 5 retries)", calls)
	}
	if p := h.clock.Pending(); len(p) != 0 {
		t.Fatalf("still retrying after 5 retries: %v", p)
	}
	h.clock.Advance(200 * time.Second)
	h.expectActive(0)
	h.noRunStarted()
	if !strings.Contains(h.logs.String(), "max retries exceeded") {
		t.Errorf("giving up not logged:\n%s", h.logs)
	}
	if got := h.gaveUp.Load(); got != 1 {
		t.Errorf("OnGiveUp heard %d times, want once", got)
	}
	if s := h.status(g1); s.RetryCount != 0 {
		t.Fatalf("retry count not reset after dropping: %+v", s)
	}
	// The next inbound message starts over, with the first backoff step.
	h.enqueue(g1)
	h.finish(h.nextIs(g1, ""), fail)
	if p := h.clock.Pending(); !slices.Equal(p, []time.Duration{5 * time.Second}) {
		t.Fatalf("after a drop the backoff restarts at 5s, armed %v", p)
	}
}

func TestPanicCountsAsFailure(t *testing.T) {
	h := newHarness(t, 1)
	h.enqueue(g1)
	h.finish(h.nextIs(g1, ""), panicking)
	if s := h.status(g1); s.RetryCount != 1 || s.Active {
		t.Fatalf("status after panic %+v", s)
	}
	if p := h.clock.Pending(); !slices.Equal(p, []time.Duration{5 * time.Second}) {
		t.Fatalf("retry armed %v, want [5s]", p)
	}
	if !strings.Contains(h.logs.String(), "panicked") {
		t.Errorf("panic not logged")
	}
	// A panicking task releases its slot too (cap 1: g2 could not run otherwise).
	h.enqueueTask(g1, "t")
	h.enqueue(g2)
	h.finish(h.nextIs(g1, "t"), panicking)
	h.finish(h.nextIs(g2, ""), succeed)
	h.expectActive(0)
}

func TestNoEnqueueAfterShutdown(t *testing.T) {
	h := newHarness(t, 2)
	if err := h.q.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of an idle queue: %v", err)
	}
	h.enqueue(g1)
	if h.enqueueTask(g1, "t") {
		t.Error("task accepted after shutdown")
	}
	h.expectActive(0)
	h.noRunStarted()
	if st := h.q.Status(); len(st) != 0 {
		t.Fatalf("state after shutdown: %+v", st)
	}
}

func TestShutdownWaitsAndDoesNotCancel(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	run := h.nextIs(g1, "")
	h.enqueue(g2)
	h.finish(h.nextIs(g2, ""), fail) // leaves a retry armed
	h.enqueue(g1)                    // pending behind the running one

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.q.Shutdown(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a run active and ctx done = %v, want context.Canceled", err)
	}
	if run.ctx.Err() != nil {
		t.Fatal("Shutdown cancelled the run's context")
	}
	if p := h.clock.Pending(); len(p) != 0 {
		t.Fatalf("retry still armed after Shutdown: %v", p)
	}

	returned := make(chan error, 1)
	go func() { returned <- h.q.Shutdown(context.Background()) }()
	h.finish(run, succeed)
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Shutdown did not return after the last run ended")
	}
	h.expectActive(0)
	h.noRunStarted() // the pending check is not started during shutdown
}

func TestWaitingGroupsDrained(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	h.enqueue(g2)
	a, b := h.next(), h.next()
	h.enqueue(g3)
	h.enqueueTask(g4, "t4")
	h.enqueue(g4)
	if w := h.q.Waiting(); !slices.Equal(w, []string{g3, g4}) {
		t.Fatalf("Waiting = %v", w)
	}
	h.finish(a, succeed)
	c := h.nextIs(g3, "") // first in line first
	h.finish(b, succeed)
	d := h.nextIs(g4, "t4") // a waiting group's task before its messages
	h.finish(c, succeed)
	h.finish(d, succeed)
	h.finish(h.nextIs(g4, ""), succeed)
	h.expectActive(0)
	if w := h.q.Waiting(); len(w) != 0 {
		t.Fatalf("Waiting = %v", w)
	}
}

func TestDuplicateTaskRejected(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness) *call // returns the run to release at the end
		dup   string
		want  bool
	}{
		{"running task", func(h *harness) *call {
			h.enqueueTask(g1, "task-1")
			return h.nextIs(g1, "task-1")
		}, "task-1", false},
		{"pending task", func(h *harness) *call {
			h.enqueue(g1)
			c := h.nextIs(g1, "")
			h.enqueueTask(g1, "task-1")
			return c
		}, "task-1", false},
		{"other task while one runs", func(h *harness) *call {
			h.enqueueTask(g1, "task-1")
			return h.nextIs(g1, "task-1")
		}, "task-2", true},
		{"same id in another group", func(h *harness) *call {
			h.enqueueTask(g2, "task-1")
			return h.nextIs(g2, "task-1")
		}, "task-1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 2)
			running := tc.setup(h)
			if got := h.enqueueTask(g1, tc.dup); got != tc.want {
				t.Fatalf("EnqueueTask(%s) = %v, want %v", tc.dup, got, tc.want)
			}
			h.finish(running, succeed)
			for h.q.ActiveCount() > 0 {
				h.finish(h.next(), succeed)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if n := h.runs[g1+"/task-1"]; n > 1 {
				t.Fatalf("task-1 ran %d times", n)
			}
		})
	}
}

func TestCloseRun(t *testing.T) {
	tests := []struct {
		name      string
		steps     func(h *harness)
		wantClose bool
	}{
		{"active but not idle: task waits, no preemption", func(h *harness) {
			h.enqueueTask(g1, "task-1")
		}, false},
		{"idle: task enqueue preempts", func(h *harness) {
			h.q.NotifyIdle(g1)
			h.enqueueTask(g1, "task-1")
		}, true},
		{"SendMessage clears idle: later task does not preempt", func(h *harness) {
			h.q.NotifyIdle(g1)
			if _, ok := h.q.SendMessage(g1, "hello"); !ok {
				h.t.Fatal("SendMessage = false for an active message container")
			}
			h.enqueueTask(g1, "task-1")
		}, false},
		{"idle notification with a pending task closes", func(h *harness) {
			h.enqueueTask(g1, "task-1")
			if h.closeWritten(g1) {
				h.t.Fatal("closed before idle")
			}
			h.q.NotifyIdle(g1)
		}, true},
		{"idle without pending tasks keeps the container", func(h *harness) {
			h.q.NotifyIdle(g1)
		}, false},
		{"explicit CloseRun", func(h *harness) {
			if !h.q.CloseRun(g1) {
				h.t.Fatal("CloseRun = false while active")
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 2)
			h.enqueue(g1)
			run := h.nextIs(g1, "")
			tc.steps(h)
			if got := h.closeWritten(g1); got != tc.wantClose {
				t.Fatalf("_close written = %v, want %v", got, tc.wantClose)
			}
			h.finish(run, succeed)
			for h.q.ActiveCount() > 0 {
				h.finish(h.next(), succeed)
			}
		})
	}
}

func TestCloseRunWhenIdle(t *testing.T) {
	h := newHarness(t, 2)
	if h.q.CloseRun(g1) {
		t.Fatal("CloseRun = true with nothing running")
	}
	h.q.NotifyIdle(g1) // unknown group: no effect, no state
	if st := h.q.Status(); len(st) != 0 {
		t.Fatalf("state %+v", st)
	}
}

func TestSendMessage(t *testing.T) {
	h := newHarness(t, 2)
	if _, ok := h.q.SendMessage(g1, "x"); ok {
		t.Fatal("SendMessage = true with nothing running")
	}

	h.enqueueTask(g1, "task-1")
	task := h.nextIs(g1, "task-1")
	if _, ok := h.q.SendMessage(g1, "x"); ok {
		t.Fatal("SendMessage = true for a task container")
	}
	h.finish(task, succeed)

	h.enqueue(g1)
	run := h.nextIs(g1, "")
	texts := []string{`<messages><message sender="A&B">hi "there"</message></messages>`, "second", "ünïcode\nline"}
	var last int64
	for _, text := range texts {
		id, ok := h.q.SendMessage(g1, text)
		if !ok || id <= last {
			t.Fatalf("SendMessage(%q) = %d, %v", text, id, ok)
		}
		last = id
	}
	h.finish(run, succeed)
	if _, ok := h.q.SendMessage(g1, "late"); ok {
		t.Fatal("SendMessage = true after the run ended")
	}
	if got := h.input.texts(folderOf(g1)); !slices.Equal(got, texts) {
		t.Fatalf("texts %q, want %q in order", got, texts)
	}
}

func TestSendMessageBeforeStarted(t *testing.T) {
	h := newHarness(t, 2)
	h.noStart.Store(true)
	h.enqueue(g1)
	run := h.nextIs(g1, "")
	if _, ok := h.q.SendMessage(g1, "early"); ok {
		t.Fatal("SendMessage = true before the run started its container")
	}
	h.q.Started(g1)
	if _, ok := h.q.SendMessage(g1, "now"); !ok {
		t.Fatal("SendMessage = false after Started")
	}
	h.finish(run, succeed)

	h.enqueueTask(g1, "t")
	task := h.nextIs(g1, "t")
	h.q.Started(g1) // ignored for tasks
	if _, ok := h.q.SendMessage(g1, "x"); ok {
		t.Fatal("SendMessage = true for a task container after Started")
	}
	h.finish(task, succeed)

	h.enqueue(g1) // a new run must call Started again
	run = h.nextIs(g1, "")
	if _, ok := h.q.SendMessage(g1, "x"); ok {
		t.Fatal("Started carried over to the next run")
	}
	h.finish(run, succeed)
	if got := h.input.texts(folderOf(g1)); !slices.Equal(got, []string{"now"}) {
		t.Fatalf("pushed %q, want only the one after Started", got)
	}
}

// TestInputUnreachable: when the run cannot take input (its container just went away),
// SendMessage and CloseRun say so, and the caller queues a new check instead.
func TestInputUnreachable(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	run := h.nextIs(g1, "")
	h.input.mu.Lock()
	h.input.fail = true
	h.input.mu.Unlock()
	if _, ok := h.q.SendMessage(g1, "x"); ok {
		t.Error("SendMessage = true though the run took nothing")
	}
	if h.q.CloseRun(g1) {
		t.Error("CloseRun = true though no run was reached")
	}
	h.finish(run, succeed)
}

func TestStatus(t *testing.T) {
	h := newHarness(t, 1)
	h.enqueueTask(g2, "t2")
	h.enqueue(g1)
	h.enqueue(g2)
	task := h.nextIs(g2, "t2")
	h.q.NotifyIdle(g2)
	want := []GroupStatus{
		{JID: g1, Folder: "group1", PendingMessages: true},
		{JID: g2, Folder: "group2", Active: true, IsTask: true, RunningTaskID: "t2", IdleWaiting: true, PendingMessages: true},
	}
	if got := h.q.Status(); !slices.Equal(got, want) {
		t.Fatalf("Status =\n%+v\nwant\n%+v", got, want)
	}
	if w := h.q.Waiting(); !slices.Equal(w, []string{g1}) {
		t.Fatalf("Waiting = %v", w)
	}
	h.finish(task, succeed)
	h.finish(h.nextIs(g1, ""), succeed) // the waiting group before g2's own new work
	h.finish(h.nextIs(g2, ""), succeed)
}

// TestIdleContainerYieldsItsSlot: at the cap, a group that waits for a slot gets one from
// the longest-idle container of another group, which is asked to close; a working
// container is never asked; a container going idle while groups wait is closed for them.
func TestIdleContainerYieldsItsSlot(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	r1 := h.nextIs(g1, "")
	h.enqueue(g2)
	r2 := h.nextIs(g2, "")
	h.q.NotifyIdle(g2) // g2 went idle first
	h.q.NotifyIdle(g1)
	h.enqueue(g3)
	if !h.closeWritten(g2) || h.closeWritten(g1) {
		t.Fatalf("close asked of g1=%v g2=%v, want only g2 (the longest idle)", h.closeWritten(g1), h.closeWritten(g2))
	}
	if _, ok := h.q.SendMessage(g2, "late"); ok {
		t.Fatal("a follow-up was piped to a container asked to close")
	}
	h.enqueue(g2) // as the host does when piping fails
	h.finish(r2, succeed)
	r3 := h.nextIs(g3, "") // the slot went to the waiting group, ahead of g2's follow-up
	if h.closeWritten(g1) {
		t.Fatal("g1 was closed though nobody waits any more")
	}
	h.finish(r1, succeed)
	h.finish(h.nextIs(g2, ""), succeed)
	h.finish(r3, succeed)
}

// TestWorkingContainerIsNotPreempted: at the cap with every container working, a waiting
// group waits; the first container to go idle is closed for it.
func TestWorkingContainerIsNotPreempted(t *testing.T) {
	h := newHarness(t, 2)
	h.enqueue(g1)
	r1 := h.nextIs(g1, "")
	h.enqueueTask(g2, "t")
	r2 := h.nextIs(g2, "t")
	h.q.NotifyIdle(g2) // a task going idle is closed by its own run, never preempted
	h.enqueue(g3)
	if h.closeWritten(g1) || h.closeWritten(g2) {
		t.Fatal("a working container was asked to close")
	}
	h.q.NotifyIdle(g1)
	if !h.closeWritten(g1) {
		t.Fatal("the container that went idle was not closed for the waiting group")
	}
	h.finish(r1, succeed)
	r3 := h.nextIs(g3, "")
	h.finish(r2, succeed)
	h.finish(r3, succeed)
}

func TestDefaultsAndValidation(t *testing.T) {
	q := New(Config{Input: newFakeInput(), ProcessMessages: func(context.Context, string) bool { return true }})
	if q.cfg.MaxConcurrent != DefaultMaxConcurrent || q.cfg.MaxRetries != DefaultMaxRetries || q.cfg.BaseRetry != DefaultBaseRetry || q.cfg.After == nil || q.log == nil {
		t.Fatalf("defaults not applied: %+v", q.cfg)
	}
	if q.EnqueueTask(g1, "", "t", func(context.Context) {}) || q.EnqueueTask(g1, "f", "", func(context.Context) {}) || q.EnqueueTask(g1, "f", "t", nil) {
		t.Error("EnqueueTask accepted an empty argument")
	}
	q.EnqueueMessageCheck(g1, "")
	if q.ActiveCount() != 0 {
		t.Error("message check without a folder started a run")
	}
	defer func() {
		if recover() == nil {
			t.Error("New without ProcessMessages did not panic")
		}
	}()
	New(Config{Input: newFakeInput()})
}

// TestRealTimer checks the default After: a retry with a tiny BaseRetry really fires.
func TestRealTimer(t *testing.T) {
	runs := make(chan bool, 4)
	var n atomic.Int32
	q := New(Config{
		Input:     newFakeInput(),
		BaseRetry: time.Millisecond,
		ProcessMessages: func(context.Context, string) bool {
			ok := n.Add(1) > 1
			runs <- ok
			return ok
		},
	})
	q.EnqueueMessageCheck(g1, "group1")
	for _, want := range []bool{false, true} {
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run result %v, want %v", got, want)
			}
		case <-time.After(deadline):
			t.Fatal("retry never ran")
		}
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
