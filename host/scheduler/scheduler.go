// Package scheduler fires scheduled tasks when they are due. It sleeps on a timer set for
// the next due task (NanoClaw polled every 60 s) and is woken whenever tasks change.
//
// A task's next_run is claimed, that is advanced in the store, before the task is handed
// to the queue. So a host killed mid-run restarts with the task already pointing at its
// next slot: a run may be lost to a crash, but none fires twice (NanoClaw #138, #1337).
package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/schedule"
)

// Store is what the scheduler needs from the database.
type Store interface {
	DueTasks(ctx context.Context, now string) ([]store.Task, error)
	NextDue(ctx context.Context) (string, bool, error)
	ClaimTask(ctx context.Context, id, expectedNextRun, newNextRun string) (bool, error)
}

// Config is a Scheduler's dependencies.
type Config struct {
	Store    Store
	Location *time.Location // TZ: cron fields and once timestamps are wall-clock times here
	// Dispatch hands a claimed task to the group queue. It must not block for long.
	Dispatch func(store.Task)
	Now      func() time.Time // default time.Now
	Log      hclog.Logger
}

// Scheduler fires due tasks.
type Scheduler struct {
	cfg  Config
	log  hclog.Logger
	wake chan struct{}
}

// maxSleep bounds one wait, so that a wall-clock jump (suspend, NTP step) delays a task by
// at most this much.
const maxSleep = 5 * time.Minute

// New makes a Scheduler.
func New(cfg Config) *Scheduler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Scheduler{cfg: cfg, log: log, wake: make(chan struct{}, 1)}
}

// Wake makes the scheduler look at the store again: call it after tasks change.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires due tasks until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.fireDue(ctx)
		wait := maxSleep
		if next, ok, err := s.cfg.Store.NextDue(ctx); err != nil {
			s.log.Error("scheduler: next due task", "error", err)
		} else if ok {
			if t, err := store.ParseTimestamp(next); err == nil {
				wait = min(max(t.Sub(s.cfg.Now()), 0), maxSleep)
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}

// fireDue claims and dispatches every task due now.
func (s *Scheduler) fireDue(ctx context.Context) {
	now := s.cfg.Now()
	due, err := s.cfg.Store.DueTasks(ctx, store.Timestamp(now))
	if err != nil {
		s.log.Error("scheduler: due tasks", "error", err)
		return
	}
	for _, t := range due {
		next, err := NextRun(t, now, s.cfg.Location)
		if err != nil {
			// Schedules are validated when written; one that no longer parses (a zone's
			// rules changed, a hand-edited row) stops here instead of firing in a loop.
			s.log.Error("scheduler: task has an invalid schedule; it will not run again", "task", t.ID, "error", err)
		}
		claimed, cerr := s.cfg.Store.ClaimTask(ctx, t.ID, t.NextRun, next)
		if cerr != nil {
			s.log.Error("scheduler: claim task", "task", t.ID, "error", cerr)
			continue
		}
		if !claimed || err != nil {
			continue // changed under us (paused, updated, claimed elsewhere)
		}
		s.log.Info("task due", "task", t.ID, "group", t.GroupFolder, "next_run", next)
		s.cfg.Dispatch(t)
	}
}

// NextRun is a task's next run after the one due now: "" for a once task; the next cron
// time after now; for an interval, the next slot on the grid anchored at the task's current
// next_run, so runs never drift and slots missed while the host was down are skipped.
func NextRun(t store.Task, now time.Time, loc *time.Location) (string, error) {
	sch, err := schedule.Parse(schedule.Kind(t.ScheduleType), t.ScheduleValue, loc)
	if err != nil {
		return "", fmt.Errorf("task %s: %w", t.ID, err)
	}
	var next time.Time
	var ok bool
	switch sch.Kind() {
	case schedule.Once:
		return "", nil
	case schedule.Interval:
		var prev time.Time
		if t.NextRun != "" {
			prev, _ = store.ParseTimestamp(t.NextRun)
		}
		next, ok = sch.NextAnchored(prev, now)
	default:
		next, ok = sch.Next(now)
	}
	if !ok {
		return "", nil
	}
	if sch.Kind() == schedule.Interval && next.Sub(now) < schedule.MinInterval && sch.Every() < schedule.MinInterval {
		// A stored task with a shorter interval (agents cannot ask for one) still runs at
		// most once a minute.
		next = now.Add(schedule.MinInterval)
	}
	return store.Timestamp(next), nil
}

// FirstRun is when a new task first runs: the next cron time, now plus the interval, or the
// once time (now if that has already passed, so a reminder written a moment late still
// fires).
func FirstRun(kind, value string, now time.Time, loc *time.Location) (string, error) {
	sch, err := schedule.Parse(schedule.Kind(kind), value, loc)
	if err != nil {
		return "", err
	}
	next, ok := sch.Next(now)
	if !ok {
		if sch.Kind() != schedule.Once {
			return "", fmt.Errorf("schedule %s %q never fires", kind, value)
		}
		next = now
	}
	return store.Timestamp(next), nil
}
