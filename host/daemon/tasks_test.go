package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// A task due when the host starts is claimed by the scheduler and run in its group's
// container as a scheduled task; its result goes to the task's chat, the run is logged
// once, and a one-off task is completed and never due again.
func TestScheduledTaskRuns(t *testing.T) {
	t.Parallel()
	type want struct {
		status     string // task_run_logs status
		result     string // task_run_logs result
		errPart    string // in task_run_logs error
		lastResult string // prefix of the task's last_result
		sent       []string
		session    string // the group's session afterwards
		reqSession string
	}
	cases := []struct {
		name   string
		task   store.Task
		script func(t *testing.T, h *harness, r *fakeRun)
		want   want
	}{
		{
			name: "isolated once task",
			task: store.Task{ID: "task-1", GroupFolder: "main", ChatJID: mainJID, Prompt: "remind them to stretch",
				ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z", ContextMode: "isolated"},
			script: func(t *testing.T, h *harness, r *fakeRun) {
				r.reply(t, "<internal>it is time</internal>Time to stretch!", "sess-task")
				h.ch.waitSends(t, mainJID, 1)
				r.waitClose(t) // a task's container is closed after its result
				r.exit(0)
			},
			want: want{status: "success", result: "Time to stretch!", lastResult: "Time to stretch!",
				sent: []string{"Time to stretch!"}, session: "sess-main"},
		},
		{
			name: "group-context task resumes and keeps the group's session",
			task: store.Task{ID: "task-2", GroupFolder: "main", ChatJID: mainJID, Prompt: "summarise the day",
				ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z", ContextMode: "group", Script: "echo '{\"wakeAgent\":true}'"},
			script: func(t *testing.T, h *harness, r *fakeRun) {
				r.reply(t, "A quiet day.", "sess-next")
				r.waitClose(t)
				r.exit(0)
			},
			want: want{status: "success", result: "A quiet day.", lastResult: "A quiet day.",
				sent: []string{"A quiet day."}, session: "sess-next", reqSession: "sess-main"},
		},
		{
			name: "non-main group's task replies in its chat",
			task: store.Task{ID: "task-3", GroupFolder: "family", ChatJID: famJID, Prompt: "water the plants",
				ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z"},
			script: func(t *testing.T, h *harness, r *fakeRun) {
				r.reply(t, "Plants!", "")
				r.waitClose(t)
				r.exit(0)
			},
			want: want{status: "success", result: "Plants!", lastResult: "Plants!", sent: []string{"Plants!"}, session: "sess-main"},
		},
		{
			name: "nothing to say",
			task: store.Task{ID: "task-4", GroupFolder: "main", ChatJID: mainJID, Prompt: "check quietly",
				ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z"},
			script: func(t *testing.T, h *harness, r *fakeRun) {
				r.reply(t, "<internal>all fine</internal>", "")
				r.waitClose(t)
				r.exit(0)
			},
			want: want{status: "success", lastResult: "Completed", session: "sess-main"},
		},
		{
			name: "failed run",
			task: store.Task{ID: "task-5", GroupFolder: "main", ChatJID: mainJID, Prompt: "p",
				ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z"},
			script: func(t *testing.T, h *harness, r *fakeRun) {
				r.fail(t, "API error: overloaded")
				r.logErr(t, "API error: overloaded\n")
				r.exit(1)
			},
			want: want{status: "error", errPart: "exited with code 1", lastResult: "Error: ", session: "sess-main"},
		},
		{
			name: "error block, exit 0",
			task: store.Task{ID: "task-6", GroupFolder: "main", ChatJID: mainJID, Prompt: "p",
				ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z"},
			script: func(t *testing.T, h *harness, r *fakeRun) {
				r.fail(t, "API error: overloaded")
				r.exit(0)
			},
			want: want{status: "error", errPart: "API error: overloaded", lastResult: "Error: API error: overloaded", session: "sess-main"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register(mainGroup)
			h.register(familyGroup)
			if err := h.st.SetSession(h.ctx, "main", "sess-main"); err != nil {
				t.Fatal(err)
			}
			task := tc.task
			task.NextRun = store.Timestamp(time.Now().Add(-time.Second))
			if err := h.st.CreateTask(h.ctx, task); err != nil {
				t.Fatal(err)
			}
			h.start()
			r := h.nextRun()
			req := r.request(t)
			if !req.IsScheduledTask || req.Prompt != task.Prompt || req.ChatJID != task.ChatJID ||
				req.GroupFolder != task.GroupFolder || req.Script != task.Script || req.SessionID != tc.want.reqSession {
				t.Errorf("request %+v for task %+v", req, task)
			}
			if req.IsMain != (task.GroupFolder == "main") {
				t.Errorf("request isMain %v", req.IsMain)
			}
			if st := h.d.Status(h.ctx); st.Running[task.GroupFolder].Task != task.ID {
				t.Errorf("status running %+v", st.Running)
			}
			tc.script(t, h, r)
			h.drain()

			logs, err := h.st.TaskRunLogs(h.ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(logs) != 1 {
				t.Fatalf("%d run logs, want 1: %+v", len(logs), logs)
			}
			l := logs[0]
			if l.Status != tc.want.status || l.Result != tc.want.result || !strings.Contains(l.Error, tc.want.errPart) ||
				(tc.want.errPart == "" && l.Error != "") {
				t.Errorf("run log %+v, want %+v", l, tc.want)
			}
			got, ok, err := h.st.Task(h.ctx, task.ID)
			if err != nil || !ok {
				t.Fatalf("task gone: %v", err)
			}
			if got.Status != store.TaskCompleted || got.NextRun != "" || got.LastRun == "" || !strings.HasPrefix(got.LastResult, tc.want.lastResult) {
				t.Errorf("task after its run %+v", got)
			}
			due, err := h.st.DueTasks(h.ctx, "2100-01-01T00:00:00.000Z")
			if err != nil || len(due) != 0 {
				t.Errorf("tasks still due some day: %+v (%v)", due, err)
			}
			if sent := h.ch.sends(task.ChatJID); strings.Join(sent, "|") != strings.Join(tc.want.sent, "|") {
				t.Errorf("sent %q, want %q", sent, tc.want.sent)
			}
			if s := h.session("main"); s != tc.want.session {
				t.Errorf("main's session %q, want %q", s, tc.want.session)
			}
			if n := len(h.rt.runs.all()); n != 1 {
				t.Errorf("%d containers, want 1", n)
			}
		})
	}
}

// A recurring task is claimed before it runs: it stays active with next_run on its grid.
func TestRecurringTaskAdvances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	due := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Second)
	task := store.Task{ID: "task-every-hour", GroupFolder: "main", ChatJID: mainJID, Prompt: "ping",
		ScheduleType: "interval", ScheduleValue: "3600000", NextRun: store.Timestamp(due)}
	if err := h.st.CreateTask(h.ctx, task); err != nil {
		t.Fatal(err)
	}
	h.start()
	r := h.nextRun()
	r.request(t)
	if got, _, _ := h.st.Task(h.ctx, task.ID); got.NextRun != store.Timestamp(due.Add(time.Hour)) {
		t.Errorf("next_run while running %q, want %q (claimed before the run)", got.NextRun, store.Timestamp(due.Add(time.Hour)))
	}
	r.reply(t, "pong", "")
	r.waitClose(t)
	r.exit(0)
	h.drain()
	got, _, _ := h.st.Task(h.ctx, task.ID)
	if got.Status != store.TaskActive || got.NextRun != store.Timestamp(due.Add(time.Hour)) || got.LastResult != "pong" {
		t.Errorf("task %+v", got)
	}
	if logs, _ := h.st.TaskRunLogs(h.ctx, task.ID); len(logs) != 1 {
		t.Errorf("run logs %+v", logs)
	}
}

// A task whose group is not registered logs an error run and starts no container.
func TestTaskForUnregisteredGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	task := store.Task{ID: "task-ghost", GroupFolder: "ghost", ChatJID: "test:ghost", Prompt: "boo",
		ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z", NextRun: store.Timestamp(time.Now().Add(-time.Second))}
	if err := h.st.CreateTask(h.ctx, task); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitLog("task's group is not registered")
	h.drain()
	if n := len(h.rt.runs.all()); n != 0 {
		t.Errorf("%d containers", n)
	}
	logs, _ := h.st.TaskRunLogs(h.ctx, task.ID)
	if len(logs) != 1 || logs[0].Status != "error" || logs[0].Error != "group not found: ghost" {
		t.Errorf("run logs %+v", logs)
	}
}

// A one-off task a dead host claimed (next_run cleared) but never finished is completed at
// start with an error run, and not run again.
func TestInterruptedOnceTaskIsClosed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	for _, tk := range []store.Task{
		{ID: "task-claimed", GroupFolder: "main", ChatJID: mainJID, Prompt: "p", ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z"},
		{ID: "task-paused", GroupFolder: "main", ChatJID: mainJID, Prompt: "p", ScheduleType: "once", ScheduleValue: "2024-01-01T00:00:00Z", Status: store.TaskPaused},
		{ID: "task-later", GroupFolder: "main", ChatJID: mainJID, Prompt: "p", ScheduleType: "once", ScheduleValue: "2100-01-01T00:00:00Z",
			NextRun: "2100-01-01T00:00:00.000Z"},
	} {
		if err := h.st.CreateTask(h.ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	h.assertIdle()
	got, _, _ := h.st.Task(h.ctx, "task-claimed")
	logs, _ := h.st.TaskRunLogs(h.ctx, "task-claimed")
	if got.Status != store.TaskCompleted || len(logs) != 1 || logs[0].Status != "error" || !strings.HasPrefix(got.LastResult, "Error: interrupted") {
		t.Errorf("claimed task %+v, logs %+v", got, logs)
	}
	for id, want := range map[string]string{"task-paused": store.TaskPaused, "task-later": store.TaskActive} {
		got, _, _ := h.st.Task(h.ctx, id)
		logs, _ := h.st.TaskRunLogs(h.ctx, id)
		if got.Status != want || len(logs) != 0 {
			t.Errorf("%s changed: %+v, logs %+v", id, got, logs)
		}
	}
}
