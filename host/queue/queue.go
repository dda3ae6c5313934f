// Package queue is the per-group run queue (NanoClaw's GroupQueue, src/group-queue.ts): at
// most one agent container per group at a time, at most MaxConcurrent across all groups,
// groups over the cap wait in FIFO order, scheduled tasks go before queued messages, failed
// message runs are retried with exponential backoff, and follow-up messages for a group whose
// container is already running are handed to it over its agent socket instead of starting
// another container.
//
// The queue is event-driven: a run starts the moment a slot is free (on enqueue or when
// another run ends), never on a poll. One mutex guards all state; it is never held while a
// run executes or while input is handed to a container.
//
// Every enqueue names the group's folder (the agent socket serves runs by folder), so the
// queue always knows which run an active group's follow-ups go to. A message run calls
// Started once its prompt is built and its container is starting; only then are follow-ups
// piped to it.
package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of Config, NanoClaw's values.
const (
	DefaultMaxConcurrent = 5               // MAX_CONCURRENT_CONTAINERS
	DefaultMaxRetries    = 5               // retries of a failed message run before dropping
	DefaultBaseRetry     = 5 * time.Second // first retry delay; doubled for each next one
)

// Input reaches a group's running container; the agent socket server is one.
type Input interface {
	// Push hands text to the current run of folder as a follow-up and returns its id;
	// false when no run of the group can take it.
	Push(folder, text string) (int64, bool)
	// RequestClose asks the current run of folder to finish after its current turn;
	// false when no run of the group is attached.
	RequestClose(folder string) bool
}

// Config is what New needs. Input and ProcessMessages are required.
type Config struct {
	// MaxConcurrent caps the containers running at once over all groups. Default 5.
	MaxConcurrent int
	// Input carries follow-ups and close requests to running containers.
	Input Input
	// ProcessMessages runs a message container for the group and reports success; it calls
	// Queue.Started just before starting the container. false or a panic counts as a
	// failure and schedules a retry. Its ctx is never cancelled by the queue (see Shutdown).
	ProcessMessages func(ctx context.Context, jid string) bool
	// After schedules f after d and returns a function that cancels it (time.AfterFunc's
	// Stop). It must not call f before returning. Default time.AfterFunc; tests pass a fake
	// clock so retries need no real waiting.
	After func(d time.Duration, f func()) (stop func() bool)
	// Log gets the queue's events. Default: discard.
	Log hclog.Logger
	// MaxRetries is how many times a failed message run is retried before the queue gives
	// up until the group's next inbound message. Default 5 (0 or less means the default).
	MaxRetries int
	// BaseRetry is the first retry delay; retry n waits BaseRetry·2^(n-1). Default 5 s.
	BaseRetry time.Duration
	// OnGiveUp, when set, hears that a group's failed message run will not be retried any
	// more (until its next inbound message), so the chat can be told.
	OnGiveUp func(jid string)
}

// Queue serialises agent runs per group and caps them globally. Its methods are safe for
// concurrent use.
type Queue struct {
	cfg Config
	log hclog.Logger

	mu       sync.Mutex
	groups   map[string]*group // only groups with state worth keeping (see prune)
	active   int               // running containers (message runs and tasks)
	waiting  []string          // FIFO of JIDs with pending work held back by the cap
	idleSeq  uint64            // counts containers going idle: orders them by idle time
	shutdown bool
	drained  chan struct{} // closed when active reaches 0 after Shutdown

	onRunDone func(jid string) // tests: called after a run's state is cleared and drained
}

// task is a scheduled task waiting for its group's slot.
type task struct {
	id     string
	folder string
	fn     func(ctx context.Context)
}

// group is one JID's state (NanoClaw's GroupState).
type group struct {
	jid             string
	folder          string // the folder given by the latest enqueue
	active          bool
	isTask          bool
	started         bool   // the message run's container is starting: input is read
	runFolder       string // folder of the active run: where its container reads input
	runningTaskID   string
	idleWaiting     bool   // the container finished a turn and waits for input
	idleSeq         uint64 // when it last went idle (the queue's idle counter), for preemption
	closing         bool   // the container was asked to close: no more follow-ups go to it
	pendingMessages bool
	pendingTasks    []task
	retryCount      int
	retryStop       func() bool // cancels the pending retry, nil if none
	retryGen        int         // identifies the pending retry, so a stale one is ignored
}

// New returns a queue ready to accept work. It panics if Input or ProcessMessages is
// missing: that is a wiring mistake, not a runtime condition.
func New(cfg Config) *Queue {
	if cfg.Input == nil || cfg.ProcessMessages == nil {
		panic("queue.New: Config.Input and Config.ProcessMessages are required")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.BaseRetry <= 0 {
		cfg.BaseRetry = DefaultBaseRetry
	}
	if cfg.After == nil {
		cfg.After = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Queue{cfg: cfg, log: log, groups: map[string]*group{}}
}

// EnqueueMessageCheck asks for a message run for the group jid, whose folder is folder.
// While the group's container runs, the request is remembered and served when it ends; at
// the global cap the group waits in line (once); otherwise the run starts now. Ignored
// after Shutdown.
func (q *Queue) EnqueueMessageCheck(jid, folder string) {
	q.mu.Lock()
	if q.shutdown {
		q.mu.Unlock()
		return
	}
	if folder == "" {
		q.mu.Unlock()
		q.log.Error("message check without a group folder; ignored", "group", jid)
		return
	}
	g := q.group(jid)
	g.folder = folder
	q.enqueueMessagesLocked(g)
	preempt := q.preemptLocked()
	q.mu.Unlock()
	q.closeAll(preempt)
}

func (q *Queue) enqueueMessagesLocked(g *group) {
	switch {
	case g.active:
		g.pendingMessages = true
		q.log.Debug("container active, message check queued", "group", g.jid)
	case q.active >= q.cfg.MaxConcurrent:
		g.pendingMessages = true
		q.addWaiting(g.jid)
		q.log.Debug("at concurrency limit, message check waits", "group", g.jid, "active", q.active)
	default:
		q.runMessagesLocked(g)
	}
}

// closeRequest is a container the queue asks to close once its lock is released.
type closeRequest struct{ jid, folder string }

// preemptLocked picks idle containers to close for the groups waiting for a slot: one per
// waiting group beyond the containers already closing, the longest idle first. A container
// that is working (not idle, or a task) is never preempted. Caller holds mu, and passes the
// result to closeAll after releasing it.
func (q *Queue) preemptLocked() []closeRequest {
	need := len(q.waiting)
	for _, g := range q.groups {
		if g.active && g.closing {
			need--
		}
	}
	var out []closeRequest
	for ; need > 0; need-- {
		var pick *group
		for _, g := range q.groups {
			if g.active && !g.isTask && g.idleWaiting && !g.closing && (pick == nil || g.idleSeq < pick.idleSeq) {
				pick = g
			}
		}
		if pick == nil {
			break
		}
		pick.closing = true
		q.log.Info("a group waits for a slot: closing the longest-idle container", "group", pick.jid, "waiting", len(q.waiting))
		out = append(out, closeRequest{pick.jid, pick.runFolder})
	}
	return out
}

func (q *Queue) closeAll(reqs []closeRequest) {
	for _, r := range reqs {
		q.requestClose(r.jid, r.folder)
	}
}

// EnqueueTask asks for the scheduled task taskID to run fn in the group jid (folder folder).
// It returns false, doing nothing, if that task is already running or pending for the group
// (the scheduler may see a task due again before its run ends: NanoClaw issue #138), after
// Shutdown, or if an argument is empty. If the group's container is idle, waiting for
// input, it is asked to wind down (CloseStdin) so the task need not wait for the idle
// timeout. Tasks run before the group's pending messages.
func (q *Queue) EnqueueTask(jid, folder, taskID string, fn func(ctx context.Context)) bool {
	q.mu.Lock()
	if q.shutdown || folder == "" || taskID == "" || fn == nil {
		q.mu.Unlock()
		return false
	}
	g := q.group(jid)
	if g.runningTaskID == taskID || slices.ContainsFunc(g.pendingTasks, func(t task) bool { return t.id == taskID }) {
		q.mu.Unlock()
		q.log.Debug("task already running or queued; skipped", "group", jid, "task", taskID)
		return false
	}
	g.folder = folder
	t := task{id: taskID, folder: folder, fn: fn}
	var closeFolder string
	switch {
	case g.active:
		g.pendingTasks = append(g.pendingTasks, t)
		if g.idleWaiting && !g.closing {
			g.closing = true
			closeFolder = g.runFolder
		}
		q.log.Debug("container active, task queued", "group", jid, "task", taskID)
	case q.active >= q.cfg.MaxConcurrent:
		g.pendingTasks = append(g.pendingTasks, t)
		q.addWaiting(jid)
		q.log.Debug("at concurrency limit, task waits", "group", jid, "task", taskID, "active", q.active)
	default:
		q.runTaskLocked(g, t)
	}
	preempt := q.preemptLocked()
	q.mu.Unlock()
	if closeFolder != "" {
		q.requestClose(jid, closeFolder)
	}
	q.closeAll(preempt)
	return true
}

// Started tells the queue that the group's message run has built its prompt (and moved
// the group's cursor past the messages in it) and is starting its container: from now on
// SendMessage pipes follow-ups to that container. ProcessMessages calls it just before it
// starts the container (NanoClaw: registerProcess). Until then, and if the run ends
// without starting one, SendMessage returns false so the caller queues a new check and no
// message is handed to a run that will never read it. Ignored for task runs.
func (q *Queue) Started(jid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if g := q.groups[jid]; g != nil && g.active && !g.isTask {
		g.started = true
	}
}

// Stopped tells the queue that the group's message container has exited, before
// ProcessMessages returns: from now on SendMessage returns false, so a follow-up arriving
// while the run winds down is queued for a new run instead of handed to a run nobody reads
// any more. A SendMessage already past its check still completes; callers that must know
// every piped message serialise the two themselves.
func (q *Queue) Stopped(jid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if g := q.groups[jid]; g != nil {
		g.started = false
	}
}

// SendMessage hands text to the group's running message container as a follow-up, so it
// is answered in the same session without a new container, and returns the follow-up's id
// in that run. It succeeds only while a message run (not a task: a task container is closed
// soon after its result and would drop the message) is active for the group and has called
// Started, and has not been asked to close; on false the caller should EnqueueMessageCheck
// instead.
func (q *Queue) SendMessage(jid, text string) (int64, bool) {
	q.mu.Lock()
	g := q.groups[jid]
	if g == nil || !g.active || g.isTask || !g.started || g.closing || g.runFolder == "" {
		q.mu.Unlock()
		return 0, false
	}
	g.idleWaiting = false
	folder := g.runFolder
	q.mu.Unlock()
	id, ok := q.cfg.Input.Push(folder, text)
	if !ok {
		q.log.Warn("the group's run could not take a follow-up", "group", jid)
		return 0, false
	}
	q.log.Debug("message piped to active container", "group", jid, "input", id)
	return id, true
}

// CloseRun asks the group's running container to finish after its current turn; no more
// follow-ups go to it. Used for the idle timeout, by the scheduler after a task's result,
// and at shutdown. It reports whether the request reached a run.
func (q *Queue) CloseRun(jid string) bool {
	q.mu.Lock()
	g := q.groups[jid]
	if g == nil || !g.active || g.runFolder == "" {
		q.mu.Unlock()
		return false
	}
	g.closing = true
	folder := g.runFolder
	q.mu.Unlock()
	return q.requestClose(jid, folder)
}

// NotifyIdle records that the group's container finished a turn and now waits for input.
// If tasks are waiting for the group, the container is closed at once so they can run; if
// other groups wait for a slot, the longest-idle container is closed for them.
func (q *Queue) NotifyIdle(jid string) {
	q.mu.Lock()
	g := q.groups[jid]
	if g == nil || !g.active {
		q.mu.Unlock()
		return
	}
	g.idleWaiting = true
	q.idleSeq++
	g.idleSeq = q.idleSeq
	var folder string
	if len(g.pendingTasks) > 0 && !g.closing {
		g.closing = true
		folder = g.runFolder
	}
	preempt := q.preemptLocked()
	q.mu.Unlock()
	if folder != "" {
		q.requestClose(jid, folder)
	}
	q.closeAll(preempt)
}

// Shutdown stops the queue taking work: enqueues are ignored from now on, pending retries
// are cancelled and nothing queued is started. Running containers are not killed (NanoClaw
// leaves them to finish by idle timeout; --rm cleans them up), and the ctx handed to
// ProcessMessages and task functions is never cancelled, so a run is never cut short by a
// graceful shutdown. Shutdown returns nil once no run is active, or ctx's error (wrapped)
// if ctx ends first.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.shutdown {
		q.shutdown = true
		for _, g := range q.groups {
			q.cancelRetry(g)
		}
		var running []string
		for jid, g := range q.groups {
			if g.active {
				running = append(running, jid)
			}
		}
		slices.Sort(running)
		q.log.Info("queue shutting down; running containers are left to finish", "active", q.active, "groups", running)
	}
	if q.active == 0 {
		q.mu.Unlock()
		return nil
	}
	if q.drained == nil {
		q.drained = make(chan struct{})
	}
	drained := q.drained
	q.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue shutdown: %d runs still active: %w", q.ActiveCount(), ctx.Err())
	}
}

// GroupStatus is one group's queue state, for `nanoclaw status`.
type GroupStatus struct {
	JID             string
	Folder          string
	Active          bool
	IsTask          bool   // the active run is a scheduled task
	RunningTaskID   string // set while a task runs
	IdleWaiting     bool   // the container waits for input
	PendingMessages bool
	PendingTasks    int
	RetryCount      int
}

// Status lists the groups the queue holds state for (running, pending or retrying),
// ordered by JID.
func (q *Queue) Status() []GroupStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]GroupStatus, 0, len(q.groups))
	for _, g := range q.groups {
		folder := g.folder
		if g.active {
			folder = g.runFolder
		}
		out = append(out, GroupStatus{
			JID: g.jid, Folder: folder, Active: g.active, IsTask: g.isTask,
			RunningTaskID: g.runningTaskID, IdleWaiting: g.idleWaiting,
			PendingMessages: g.pendingMessages, PendingTasks: len(g.pendingTasks),
			RetryCount: g.retryCount,
		})
	}
	slices.SortFunc(out, func(a, b GroupStatus) int { return strings.Compare(a.JID, b.JID) })
	return out
}

// ActiveCount is the number of containers running now (message runs and tasks).
func (q *Queue) ActiveCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active
}

// Waiting lists the groups held back by the concurrency cap, next to run first.
func (q *Queue) Waiting() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.waiting)
}

// group returns jid's state, creating it.
func (q *Queue) group(jid string) *group {
	g := q.groups[jid]
	if g == nil {
		g = &group{jid: jid}
		q.groups[jid] = g
	}
	return g
}

func (q *Queue) addWaiting(jid string) {
	if !slices.Contains(q.waiting, jid) {
		q.waiting = append(q.waiting, jid)
	}
}

func (q *Queue) removeWaiting(jid string) {
	q.waiting = slices.DeleteFunc(q.waiting, func(w string) bool { return w == jid })
}

// runMessagesLocked takes a slot for a message run of g and starts it.
func (q *Queue) runMessagesLocked(g *group) {
	g.active, g.isTask, g.idleWaiting, g.pendingMessages, g.started, g.closing = true, false, false, false, false, false
	g.runFolder = g.folder
	q.active++
	q.removeWaiting(g.jid)
	q.log.Debug("starting message run", "group", g.jid, "active", q.active)
	go q.execMessages(g.jid)
}

// runTaskLocked takes a slot for task t of g and starts it.
func (q *Queue) runTaskLocked(g *group, t task) {
	g.active, g.isTask, g.idleWaiting, g.started, g.closing = true, true, false, false, false
	g.runFolder, g.runningTaskID = t.folder, t.id
	q.active++
	q.removeWaiting(g.jid)
	q.log.Debug("starting task", "group", g.jid, "task", t.id, "active", q.active)
	go q.execTask(g.jid, t)
}

func (q *Queue) execMessages(jid string) {
	ok := q.callProcess(jid)
	q.mu.Lock()
	g := q.groups[jid]
	gaveUp := false
	if ok {
		g.retryCount = 0
		q.cancelRetry(g) // the run caught up with everything a pending retry was for
	} else {
		gaveUp = q.scheduleRetryLocked(g)
	}
	q.finishLocked(g)
	q.mu.Unlock()
	if gaveUp && q.cfg.OnGiveUp != nil {
		q.cfg.OnGiveUp(jid)
	}
	if q.onRunDone != nil {
		q.onRunDone(jid)
	}
}

// callProcess runs ProcessMessages, turning a panic into a failure.
func (q *Queue) callProcess(jid string) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("message run panicked", "group", jid, "panic", r)
			ok = false
		}
	}()
	return q.cfg.ProcessMessages(context.Background(), jid)
}

func (q *Queue) execTask(jid string, t task) {
	func() {
		defer func() {
			if r := recover(); r != nil {
				q.log.Error("task panicked", "group", jid, "task", t.id, "panic", r)
			}
		}()
		t.fn(context.Background())
	}()
	q.mu.Lock()
	q.finishLocked(q.groups[jid])
	q.mu.Unlock()
	if q.onRunDone != nil {
		q.onRunDone(jid)
	}
}

// finishLocked clears g's run, releases its slot and hands the slot on: to the groups waiting
// for a slot (g joins the back of the line if it has more work), else to g's own pending
// tasks, then its pending messages.
func (q *Queue) finishLocked(g *group) {
	g.active, g.isTask, g.idleWaiting, g.started, g.closing = false, false, false, false, false
	g.runFolder, g.runningTaskID = "", ""
	q.active--
	if q.shutdown {
		if q.active == 0 && q.drained != nil {
			close(q.drained)
			q.drained = nil
		}
		return
	}
	switch {
	case len(q.waiting) > 0 && (len(g.pendingTasks) > 0 || g.pendingMessages):
		// Others have waited for a slot longer than this group's new work: it queues
		// behind them, so a busy group cannot keep a slot for ever.
		q.addWaiting(g.jid)
		q.drainWaitingLocked()
	case len(g.pendingTasks) > 0:
		t := g.pendingTasks[0]
		g.pendingTasks = slices.Delete(g.pendingTasks, 0, 1)
		q.runTaskLocked(g, t)
	case g.pendingMessages:
		q.runMessagesLocked(g)
	default:
		q.drainWaitingLocked()
	}
	q.prune(g)
}

// drainWaitingLocked fills free slots from the waiting line, oldest first; a group's tasks
// go before its messages.
func (q *Queue) drainWaitingLocked() {
	for len(q.waiting) > 0 && q.active < q.cfg.MaxConcurrent {
		jid := q.waiting[0]
		q.waiting = slices.Delete(q.waiting, 0, 1)
		g := q.groups[jid]
		if g == nil || g.active {
			continue // an active group drains its own pending work when its run ends
		}
		switch {
		case len(g.pendingTasks) > 0:
			t := g.pendingTasks[0]
			g.pendingTasks = slices.Delete(g.pendingTasks, 0, 1)
			q.runTaskLocked(g, t)
		case g.pendingMessages:
			q.runMessagesLocked(g)
		}
	}
}

// scheduleRetryLocked counts a failed message run of g and re-enqueues it after
// BaseRetry·2^(n-1), or gives up after MaxRetries until the group's next message (and
// reports true).
func (q *Queue) scheduleRetryLocked(g *group) bool {
	g.retryCount++
	if g.retryCount > q.cfg.MaxRetries {
		q.log.Error("max retries exceeded; the messages wait for the next inbound message",
			"group", g.jid, "retries", g.retryCount-1)
		g.retryCount = 0
		q.cancelRetry(g)
		return true
	}
	delay := q.cfg.BaseRetry << (g.retryCount - 1)
	q.log.Info("message run failed, retrying", "group", g.jid, "retry", g.retryCount, "delay", delay)
	q.cancelRetry(g)
	g.retryGen++
	gen, jid := g.retryGen, g.jid
	g.retryStop = q.cfg.After(delay, func() { q.retry(jid, gen) })
	return false
}

func (q *Queue) retry(jid string, gen int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	g := q.groups[jid]
	if g == nil || g.retryGen != gen || g.retryStop == nil {
		return // cancelled or superseded
	}
	g.retryStop = nil
	if q.shutdown {
		return
	}
	q.enqueueMessagesLocked(g)
}

func (q *Queue) cancelRetry(g *group) {
	if g.retryStop != nil {
		g.retryStop()
		g.retryStop = nil
	}
}

// prune forgets g once it holds nothing: no run, no pending work, no retry.
func (q *Queue) prune(g *group) {
	if !g.active && !g.pendingMessages && len(g.pendingTasks) == 0 && g.retryCount == 0 && g.retryStop == nil {
		delete(q.groups, g.jid)
	}
}

func (q *Queue) requestClose(jid, folder string) bool {
	if !q.cfg.Input.RequestClose(folder) {
		q.log.Debug("close requested, but no run is attached", "group", jid)
		return false
	}
	q.log.Debug("close requested", "group", jid)
	return true
}
