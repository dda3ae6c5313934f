package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func strp(s string) *string { return &s }

func newTask(id, nextRun string) Task {
	return Task{ID: id, GroupFolder: "main", ChatJID: g, Prompt: "do something", ScheduleType: "once",
		ScheduleValue: "2024-06-01T00:00:00.000Z", ContextMode: "isolated", NextRun: nextRun, Status: TaskActive,
		CreatedAt: "2024-01-01T00:00:00.000Z"}
}

func mustTask(t *testing.T, s *Store, tk Task) {
	t.Helper()
	if err := s.CreateTask(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
}

func getTask(t *testing.T, s *Store, id string) Task {
	t.Helper()
	tk, ok, err := s.Task(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("Task(%s): %v %v", id, ok, err)
	}
	return tk
}

func TestTaskCRUD(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)

	want := newTask("task-1", "2024-06-01T00:00:00.000Z")
	want.Script = "echo '{\"wakeAgent\": true}'"
	want.Prompt = "it's a 'quoted' prompt'); DROP TABLE scheduled_tasks; --"
	mustTask(t, s, want)
	if got := getTask(t, s, "task-1"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if err := s.CreateTask(ctx, want); err == nil {
		t.Error("duplicate id accepted")
	}
	if _, ok, err := s.Task(ctx, "missing"); ok || err != nil {
		t.Errorf("missing task: %v %v", ok, err)
	}

	// Defaults, as NanoClaw: active, isolated, created now.
	mustTask(t, s, Task{ID: "task-2", GroupFolder: "other", ChatJID: g, Prompt: "p", ScheduleType: "cron", ScheduleValue: "0 9 * * *"})
	d := getTask(t, s, "task-2")
	if d.Status != TaskActive || d.ContextMode != "isolated" || d.CreatedAt == "" || d.NextRun != "" {
		t.Errorf("defaults: %+v", d)
	}

	updates := []struct {
		name  string
		u     TaskUpdate
		check func(Task) bool
	}{
		{"status paused", TaskUpdate{Status: strp(TaskPaused)}, func(k Task) bool { return k.Status == TaskPaused }},
		{"prompt and schedule", TaskUpdate{Prompt: strp("new"), ScheduleType: strp("interval"), ScheduleValue: strp("60000")},
			func(k Task) bool {
				return k.Prompt == "new" && k.ScheduleType == "interval" && k.ScheduleValue == "60000"
			}},
		{"next run set", TaskUpdate{NextRun: strp("2025-01-01T00:00:00.000Z")}, func(k Task) bool { return k.NextRun == "2025-01-01T00:00:00.000Z" }},
		{"next run cleared", TaskUpdate{NextRun: strp("")}, func(k Task) bool { return k.NextRun == "" }},
		{"script cleared", TaskUpdate{Script: strp("")}, func(k Task) bool { return k.Script == "" }},
		{"context mode", TaskUpdate{ContextMode: strp("group")}, func(k Task) bool { return k.ContextMode == "group" }},
		{"empty update", TaskUpdate{}, func(k Task) bool { return k.Prompt == "new" }},
	}
	for _, u := range updates {
		t.Run(u.name, func(t *testing.T) {
			if err := s.UpdateTask(ctx, "task-1", u.u); err != nil {
				t.Fatal(err)
			}
			if got := getTask(t, s, "task-1"); !u.check(got) {
				t.Errorf("after update: %+v", got)
			}
		})
	}
	if err := s.UpdateTask(ctx, "missing", TaskUpdate{Status: strp(TaskPaused)}); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("update missing: %v", err)
	}
	if err := s.UpdateTask(ctx, "task-1", TaskUpdate{Status: strp("bogus")}); err == nil {
		t.Error("bogus status accepted")
	}

	all, err := s.Tasks(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "task-2" {
		t.Errorf("Tasks (newest first) = %v %v", all, err)
	}
	mine, err := s.TasksForGroup(ctx, "other")
	if err != nil || len(mine) != 1 || mine[0].ID != "task-2" {
		t.Errorf("TasksForGroup = %v %v", mine, err)
	}
}

// db.test.ts: deleting a task deletes its run logs.
func TestDeleteTaskDeletesLogs(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	mustTask(t, s, newTask("task-3", ""))
	mustTask(t, s, newTask("keep", ""))
	for i, id := range []string{"task-3", "task-3", "keep"} {
		if err := s.LogTaskRun(ctx, TaskRunLog{TaskID: id, RunAt: fmt.Sprintf("2024-01-01T00:00:0%d.000Z", i), DurationMS: 1500, Status: "success", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteTask(ctx, "task-3"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Task(ctx, "task-3"); ok {
		t.Error("task still there")
	}
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM task_run_logs WHERE task_id = 'task-3'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d orphan logs (%v)", n, err)
	}
	if logs, _ := s.TaskRunLogs(ctx, "keep"); len(logs) != 1 {
		t.Errorf("other task's logs: %v", logs)
	}
	if err := s.DeleteTask(ctx, "task-3"); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
}

func TestTaskRunLogs(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	mustTask(t, s, newTask("t", ""))
	want := []TaskRunLog{
		{TaskID: "t", RunAt: "2024-01-01T00:00:01.000Z", DurationMS: 10, Status: "success", Result: "it's done"},
		{TaskID: "t", RunAt: "2024-01-01T00:00:02.000Z", DurationMS: 20, Status: "error", Error: "timed out"},
	}
	for i := len(want) - 1; i >= 0; i-- {
		if err := s.LogTaskRun(ctx, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TaskRunLogs(ctx, "t")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("logs = %+v %v", got, err)
	}
	// The task was cancelled while it ran: nothing to attach the log to.
	err = s.LogTaskRun(ctx, TaskRunLog{TaskID: "gone", RunAt: "x", Status: "success"})
	if !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("log for a missing task: %v", err)
	}
}

func TestDueTasksAndNextDue(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, ok, err := s.NextDue(ctx); ok || err != nil {
		t.Errorf("empty NextDue: %v %v", ok, err)
	}
	mustTask(t, s, newTask("late", "2024-01-01T00:00:03.000Z"))
	mustTask(t, s, newTask("early", "2024-01-01T00:00:01.000Z"))
	mustTask(t, s, newTask("exact", "2024-01-01T00:00:02.000Z"))
	mustTask(t, s, newTask("future", "2024-01-01T00:01:00.000Z"))
	mustTask(t, s, newTask("never", ""))
	paused := newTask("paused", "2023-01-01T00:00:00.000Z")
	paused.Status = TaskPaused
	mustTask(t, s, paused)
	done := newTask("done", "2023-01-01T00:00:00.000Z")
	done.Status = TaskCompleted
	mustTask(t, s, done)

	cases := []struct {
		now  string
		want []string
	}{
		{"2023-12-31T00:00:00.000Z", nil},
		{"2024-01-01T00:00:02.000Z", []string{"early", "exact"}},
		{"2024-01-01T00:00:59.000Z", []string{"early", "exact", "late"}},
		{"2030-01-01T00:00:00.000Z", []string{"early", "exact", "late", "future"}},
	}
	for _, c := range cases {
		t.Run(c.now, func(t *testing.T) {
			due, err := s.DueTasks(ctx, c.now)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range due {
				ids = append(ids, d.ID)
			}
			if !sameStrings(ids, c.want) {
				t.Errorf("due = %v, want %v", ids, c.want)
			}
		})
	}
	if next, ok, err := s.NextDue(ctx); err != nil || !ok || next != "2024-01-01T00:00:01.000Z" {
		t.Errorf("NextDue = %q %v %v", next, ok, err)
	}
}

func TestClaimAndFinishTask(t *testing.T) {
	ctx := context.Background()
	const due = "2024-01-01T00:00:00.000Z"
	cases := []struct {
		name       string
		typ        string
		status     string
		expected   string
		newNext    string
		wantClaim  bool
		wantNext   string
		wantStatus string // after FinishTask
	}{
		{name: "once completes", typ: "once", expected: due, wantClaim: true, wantStatus: TaskCompleted},
		{name: "interval advances and stays active", typ: "interval", expected: due, newNext: "2024-01-01T00:01:00.000Z", wantClaim: true, wantNext: "2024-01-01T00:01:00.000Z", wantStatus: TaskActive},
		{name: "cron with no next run stays active", typ: "cron", expected: due, wantClaim: true, wantStatus: TaskActive},
		{name: "stale expectation loses", typ: "interval", expected: "2023-01-01T00:00:00.000Z", newNext: "x", wantNext: due, wantStatus: TaskActive},
		{name: "paused task not claimed", typ: "once", status: TaskPaused, expected: due, wantNext: due, wantStatus: TaskPaused},
		{name: "empty expectation never matches", typ: "once", expected: "", wantNext: due, wantStatus: TaskActive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			tk := newTask("t", due)
			tk.ScheduleType = c.typ
			if c.status != "" {
				tk.Status = c.status
			}
			mustTask(t, s, tk)
			claimed, err := s.ClaimTask(ctx, "t", c.expected, c.newNext)
			if err != nil || claimed != c.wantClaim {
				t.Fatalf("claimed = %v %v, want %v", claimed, err, c.wantClaim)
			}
			if got := getTask(t, s, "t"); got.NextRun != c.wantNext {
				t.Errorf("next_run = %q, want %q", got.NextRun, c.wantNext)
			}
			if claimed {
				if err := s.FinishTask(ctx, "t", "2024-01-01T00:00:30.000Z", "Completed"); err != nil {
					t.Fatal(err)
				}
				got := getTask(t, s, "t")
				if got.LastRun != "2024-01-01T00:00:30.000Z" || got.LastResult != "Completed" || got.NextRun != c.wantNext {
					t.Errorf("after finish: %+v", got)
				}
			}
			if got := getTask(t, s, "t"); got.Status != c.wantStatus {
				t.Errorf("status = %q, want %q", got.Status, c.wantStatus)
			}
		})
	}
	t.Run("finish a deleted task", func(t *testing.T) {
		s := openTest(t)
		if err := s.FinishTask(ctx, "gone", "x", "y"); !errors.Is(err, ErrTaskNotFound) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("once rescheduled during its run stays active", func(t *testing.T) {
		s := openTest(t)
		mustTask(t, s, newTask("t", due))
		if ok, err := s.ClaimTask(ctx, "t", due, ""); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := s.UpdateTask(ctx, "t", TaskUpdate{NextRun: strp("2025-01-01T00:00:00.000Z")}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishTask(ctx, "t", "x", "y"); err != nil {
			t.Fatal(err)
		}
		if got := getTask(t, s, "t"); got.Status != TaskActive || got.NextRun != "2025-01-01T00:00:00.000Z" {
			t.Errorf("got %+v", got)
		}
	})
}

// Two schedulers (or a scheduler and its restarted self) claiming the same slot: exactly
// one runs it.
func TestClaimTaskRace(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const due = "2024-01-01T00:00:00.000Z"
	for round := 0; round < 10; round++ {
		id := fmt.Sprint("t", round)
		mustTask(t, s, newTask(id, due))
		var wins sync.WaitGroup
		results := make(chan bool, 4)
		for i := 0; i < 4; i++ {
			wins.Add(1)
			go func(i int) {
				defer wins.Done()
				ok, err := s.ClaimTask(ctx, id, due, fmt.Sprintf("2024-01-01T00:0%d:00.000Z", i+1))
				if err != nil {
					t.Error(err)
				}
				results <- ok
			}(i)
		}
		wins.Wait()
		close(results)
		n := 0
		for ok := range results {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Errorf("round %d: %d claims won, want exactly 1", round, n)
		}
	}
}
