package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// memStore is the scheduler's store in memory, with the same claim semantics.
type memStore struct {
	mu    sync.Mutex
	tasks map[string]*store.Task
}

func (m *memStore) DueTasks(_ context.Context, now string) ([]store.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []store.Task
	for _, t := range m.tasks {
		if t.Status == store.TaskActive && t.NextRun != "" && t.NextRun <= now {
			due = append(due, *t)
		}
	}
	return due, nil
}

func (m *memStore) NextDue(context.Context) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	best := ""
	for _, t := range m.tasks {
		if t.Status == store.TaskActive && t.NextRun != "" && (best == "" || t.NextRun < best) {
			best = t.NextRun
		}
	}
	return best, best != "", nil
}

func (m *memStore) ClaimTask(_ context.Context, id, expected, next string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[id]
	if !ok || t.Status != store.TaskActive || t.NextRun != expected {
		return false, nil
	}
	t.NextRun = next
	return true, nil
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNextRun(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	now := mustTime(t, "2026-03-01T12:00:00Z")
	tests := []struct {
		name string
		task store.Task
		loc  *time.Location
		want string
		err  bool
	}{
		// NanoClaw: the interval is anchored to the scheduled time, not to now.
		{"interval anchored", store.Task{ScheduleType: "interval", ScheduleValue: "60000", NextRun: "2026-03-01T11:59:30.000Z"}, time.UTC, "2026-03-01T12:00:30.000Z", false},
		// Ten missed slots: the next is in the future and on the original grid.
		{"missed intervals skipped", store.Task{ScheduleType: "interval", ScheduleValue: "60000", NextRun: "2026-03-01T11:49:30.000Z"}, time.UTC, "2026-03-01T12:00:30.000Z", false},
		{"interval never ran", store.Task{ScheduleType: "interval", ScheduleValue: "120000"}, time.UTC, "2026-03-01T12:02:00.000Z", false},
		// Agents cannot ask for less than a minute; a stored task that has it runs at most
		// once a minute (five such tasks once fired ~580 times a second).
		{"stored interval under a minute", store.Task{ScheduleType: "interval", ScheduleValue: "1", NextRun: "2026-03-01T11:59:59.000Z"}, time.UTC, "2026-03-01T12:01:00.000Z", false},
		{"once has no next", store.Task{ScheduleType: "once", ScheduleValue: "2026-03-01T12:00:00Z"}, time.UTC, "", false},
		{"cron in TZ", store.Task{ScheduleType: "cron", ScheduleValue: "0 9 * * *"}, ny, "2026-03-01T14:00:00.000Z", false},
		{"cron in UTC", store.Task{ScheduleType: "cron", ScheduleValue: "0 9 * * *"}, time.UTC, "2026-03-02T09:00:00.000Z", false},
		{"invalid interval", store.Task{ScheduleType: "interval", ScheduleValue: "0"}, time.UTC, "", true},
		{"unknown type", store.Task{ScheduleType: "weekly", ScheduleValue: "x"}, time.UTC, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextRun(tc.task, now, tc.loc)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("NextRun = %q, %v; want %q (err %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestFirstRun(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := mustTime(t, "2026-06-01T12:00:00Z")
	tests := []struct {
		name, kind, value string
		loc               *time.Location
		want              string
		err               bool
	}{
		{"interval", "interval", "3600000", time.UTC, "2026-06-01T13:00:00.000Z", false},
		// NanoClaw #483: a once time without an offset is read in TZ, not the host's zone.
		{"once in TZ", "once", "2026-06-01T18:00:00", berlin, "2026-06-01T16:00:00.000Z", false},
		{"once with offset", "once", "2026-06-01T18:00:00Z", berlin, "2026-06-01T18:00:00.000Z", false},
		{"once just passed fires now", "once", "2026-06-01T11:59:00Z", time.UTC, "2026-06-01T12:00:00.000Z", false},
		{"cron", "cron", "*/15 * * * *", time.UTC, "2026-06-01T12:15:00.000Z", false},
		{"invalid cron", "cron", "61 * * * *", time.UTC, "", true},
		{"non-numeric interval", "interval", "soon", time.UTC, "", true},
		{"invalid once", "once", "tomorrow", time.UTC, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FirstRun(tc.kind, tc.value, now, tc.loc)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("FirstRun = %q, %v; want %q (err %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestSchedulerFires runs the real loop: a task due soon fires once, when due, with its
// next_run claimed beforehand; a paused task never fires; Wake picks up a new task at once.
func TestSchedulerFires(t *testing.T) {
	now := time.Now()
	ms := &memStore{tasks: map[string]*store.Task{
		"soon":   {ID: "soon", Status: store.TaskActive, ScheduleType: "once", ScheduleValue: "2026-01-01T00:00:00Z", NextRun: store.Timestamp(now.Add(50 * time.Millisecond))},
		"paused": {ID: "paused", Status: store.TaskPaused, ScheduleType: "once", ScheduleValue: "2026-01-01T00:00:00Z", NextRun: store.Timestamp(now.Add(-time.Minute))},
		"later":  {ID: "later", Status: store.TaskActive, ScheduleType: "interval", ScheduleValue: "3600000", NextRun: store.Timestamp(now.Add(time.Hour))},
	}}
	fired := make(chan store.Task, 10)
	s := New(Config{Store: ms, Dispatch: func(t store.Task) {
		ms.mu.Lock()
		next := ms.tasks[t.ID].NextRun
		ms.mu.Unlock()
		if next == t.NextRun {
			panic("dispatched before next_run was claimed")
		}
		fired <- t
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wait := func(id string) {
		t.Helper()
		select {
		case got := <-fired:
			if got.ID != id {
				t.Fatalf("fired %s, want %s", got.ID, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not fire", id)
		}
	}
	wait("soon")
	if due := now.Add(50 * time.Millisecond).Truncate(time.Millisecond); time.Now().Before(due) {
		t.Errorf("fired before it was due at %v", due)
	}
	ms.mu.Lock()
	if ms.tasks["soon"].NextRun != "" {
		t.Errorf("once task still has next_run %q", ms.tasks["soon"].NextRun)
	}
	ms.tasks["new"] = &store.Task{ID: "new", Status: store.TaskActive, ScheduleType: "once", ScheduleValue: "2026-01-01T00:00:00Z", NextRun: store.Timestamp(now)}
	ms.mu.Unlock()
	s.Wake()
	wait("new")
	select {
	case got := <-fired:
		t.Fatalf("unexpected run of %s", got.ID)
	default:
	}
}

// TestClaimRace: two schedulers over one store (a restarted host racing an old one) fire
// each due task exactly once.
func TestClaimRace(t *testing.T) {
	past := store.Timestamp(time.Now().Add(-time.Second))
	ms := &memStore{tasks: map[string]*store.Task{}}
	for _, id := range []string{"a", "b", "c", "d"} {
		ms.tasks[id] = &store.Task{ID: id, Status: store.TaskActive, ScheduleType: "interval", ScheduleValue: "3600000", NextRun: past}
	}
	var mu sync.Mutex
	count := map[string]int{}
	dispatch := func(t store.Task) { mu.Lock(); count[t.ID]++; mu.Unlock() }
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			New(Config{Store: ms, Dispatch: dispatch}).fireDue(context.Background())
		}()
	}
	wg.Wait()
	for id := range ms.tasks {
		if count[id] != 1 {
			t.Errorf("task %s fired %d times", id, count[id])
		}
	}
}
