package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// taskColumns is what every task query selects, in scanTask's order.
const taskColumns = `id, group_folder, chat_jid, prompt, schedule_type, schedule_value, next_run,
	last_run, last_result, status, created_at, context_mode, script`

// validStatus reports whether st is one of the task statuses.
func validStatus(st string) bool {
	return st == TaskActive || st == TaskPaused || st == TaskCompleted
}

// CreateTask stores a new task. Status defaults to active, ContextMode to isolated and
// CreatedAt to now, as in NanoClaw; NextRun "" stores NULL (never due).
func (s *Store) CreateTask(ctx context.Context, t Task) error {
	if t.ID == "" {
		return errors.New("create task: empty id")
	}
	if t.Status == "" {
		t.Status = TaskActive
	}
	if !validStatus(t.Status) {
		return fmt.Errorf("create task %q: unknown status %q", t.ID, t.Status)
	}
	if t.ContextMode == "" {
		t.ContextMode = "isolated"
	}
	if t.CreatedAt == "" {
		t.CreatedAt = Timestamp(s.now())
	}
	const q = `
INSERT INTO scheduled_tasks (id, group_folder, chat_jid, prompt, schedule_type, schedule_value,
	next_run, last_run, last_result, status, created_at, context_mode, script)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	_, err := s.w.ExecContext(ctx, q, t.ID, t.GroupFolder, t.ChatJID, t.Prompt, t.ScheduleType, t.ScheduleValue,
		nullIfEmpty(t.NextRun), nullIfEmpty(t.LastRun), nullIfEmpty(t.LastResult), t.Status, t.CreatedAt,
		t.ContextMode, nullIfEmpty(t.Script))
	if err != nil {
		return fmt.Errorf("create task %q: %w", t.ID, err)
	}
	return nil
}

// Task returns one task; ok is false when it does not exist.
func (s *Store) Task(ctx context.Context, id string) (Task, bool, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM scheduled_tasks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, false, nil
	}
	if err != nil {
		return Task{}, false, fmt.Errorf("task %q: %w", id, err)
	}
	return t, true, nil
}

// Tasks returns every task, newest first (NanoClaw's getAllTasks order), for the main
// group's tasks snapshot.
func (s *Store) Tasks(ctx context.Context) ([]Task, error) {
	ts, err := s.queryTasks(ctx, `SELECT `+taskColumns+` FROM scheduled_tasks ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return ts, nil
}

// TasksForGroup returns one group's tasks, newest first: a non-main group sees only these.
func (s *Store) TasksForGroup(ctx context.Context, folder string) ([]Task, error) {
	ts, err := s.queryTasks(ctx,
		`SELECT `+taskColumns+` FROM scheduled_tasks WHERE group_folder = ? ORDER BY created_at DESC, id`, folder)
	if err != nil {
		return nil, fmt.Errorf("tasks for %q: %w", folder, err)
	}
	return ts, nil
}

// TaskUpdate changes the fields that are non-nil. NextRun pointing at "" clears next_run.
type TaskUpdate struct {
	Prompt        *string
	Script        *string
	ScheduleType  *string
	ScheduleValue *string
	NextRun       *string
	Status        *string
	ContextMode   *string
}

// UpdateTask applies u to task id (pause, resume, edit). It returns ErrTaskNotFound when the
// task does not exist; an update with no fields set does nothing.
func (s *Store) UpdateTask(ctx context.Context, id string, u TaskUpdate) error {
	var sets []string
	var args []any
	add := func(col string, v *string, nullable bool) {
		if v == nil {
			return
		}
		sets = append(sets, col+" = ?")
		if nullable {
			args = append(args, nullIfEmpty(*v))
		} else {
			args = append(args, *v)
		}
	}
	if u.Status != nil && !validStatus(*u.Status) {
		return fmt.Errorf("update task %q: unknown status %q", id, *u.Status)
	}
	add("prompt", u.Prompt, false)
	add("script", u.Script, true)
	add("schedule_type", u.ScheduleType, false)
	add("schedule_value", u.ScheduleValue, false)
	add("next_run", u.NextRun, true)
	add("status", u.Status, false)
	add("context_mode", u.ContextMode, false)
	if len(sets) == 0 {
		return nil
	}
	args = append(args, id)
	// Column names come from the constants above, values are bound.
	res, err := s.w.ExecContext(ctx, `UPDATE scheduled_tasks SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("update task %q: %w", id, err)
	}
	return nil
}

// DeleteTask deletes a task and its run logs in one transaction (logs first: the foreign
// key has no cascade in NanoClaw's schema). Deleting a missing task is not an error.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM task_run_logs WHERE task_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM scheduled_tasks WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete task %q: %w", id, err)
	}
	return nil
}

// DueTasks returns active tasks whose next_run is at or before now (ISO-8601 UTC), earliest
// first: the scheduler's work list.
func (s *Store) DueTasks(ctx context.Context, now string) ([]Task, error) {
	ts, err := s.queryTasks(ctx, `SELECT `+taskColumns+` FROM scheduled_tasks
WHERE status = 'active' AND next_run IS NOT NULL AND next_run <= ? ORDER BY next_run, id`, now)
	if err != nil {
		return nil, fmt.Errorf("due tasks at %q: %w", now, err)
	}
	return ts, nil
}

// NextDue returns the earliest next_run of any active task, so the scheduler can sleep until
// then instead of polling; ok is false when nothing is scheduled.
func (s *Store) NextDue(ctx context.Context) (string, bool, error) {
	var ts sql.NullString
	err := s.r.QueryRowContext(ctx,
		`SELECT MIN(next_run) FROM scheduled_tasks WHERE status = 'active' AND next_run IS NOT NULL`).Scan(&ts)
	if err != nil {
		return "", false, fmt.Errorf("next due task: %w", err)
	}
	return ts.String, ts.Valid, nil
}

// ClaimTask takes a due task before running it, by moving its next_run from
// expectedNextRun to newNextRun ("" → NULL, for a one-off task) in one statement that only
// succeeds while the task is still active and still due at expectedNextRun. Because the
// schedule advances before the run rather than after (NanoClaw's #1337), a restart mid-run
// never fires the same slot twice, and of two claimants exactly one wins.
func (s *Store) ClaimTask(ctx context.Context, id, expectedNextRun, newNextRun string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE scheduled_tasks SET next_run = ?
WHERE id = ? AND status = 'active' AND next_run = ?`, nullIfEmpty(newNextRun), id, expectedNextRun)
	if err != nil {
		return false, fmt.Errorf("claim task %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim task %q: %w", id, err)
	}
	return n == 1, nil
}

// FinishTask records a claimed run's outcome. next_run is left alone (ClaimTask already set
// it, and an edit during the run may have changed it); a one-off task with nothing left to
// run becomes completed. ErrTaskNotFound means the task was deleted while it ran.
func (s *Store) FinishTask(ctx context.Context, id, lastRun, lastResult string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE scheduled_tasks SET last_run = ?, last_result = ?,
	status = CASE WHEN next_run IS NULL AND schedule_type = 'once' THEN 'completed' ELSE status END
WHERE id = ?`, nullIfEmpty(lastRun), nullIfEmpty(lastResult), id)
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("finish task %q: %w", id, err)
	}
	return nil
}

// LogTaskRun appends a finished run to the task's history. ErrTaskNotFound means the task
// was deleted while it ran; there is then nothing to attach the log to.
func (s *Store) LogTaskRun(ctx context.Context, l TaskRunLog) error {
	res, err := s.w.ExecContext(ctx, `
INSERT INTO task_run_logs (task_id, run_at, duration_ms, status, result, error)
SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM scheduled_tasks WHERE id = ?1)`,
		l.TaskID, l.RunAt, l.DurationMS, l.Status, nullIfEmpty(l.Result), nullIfEmpty(l.Error))
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("log run of task %q: %w", l.TaskID, err)
	}
	return nil
}

// TaskRunLogs returns a task's run history, oldest first.
func (s *Store) TaskRunLogs(ctx context.Context, taskID string) ([]TaskRunLog, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT task_id, run_at, duration_ms, status, result, error
FROM task_run_logs WHERE task_id = ? ORDER BY run_at, id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("run logs of task %q: %w", taskID, err)
	}
	defer rows.Close()
	var out []TaskRunLog
	for rows.Next() {
		var l TaskRunLog
		var result, errText sql.NullString
		if err := rows.Scan(&l.TaskID, &l.RunAt, &l.DurationMS, &l.Status, &result, &errText); err != nil {
			return nil, fmt.Errorf("run logs of task %q: %w", taskID, err)
		}
		l.Result, l.Error = result.String, errText.String
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("run logs of task %q: %w", taskID, err)
	}
	return out, nil
}

// affectedOne turns an Exec result that touched no row into ErrTaskNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrTaskNotFound
	}
	return nil
}

func (s *Store) queryTasks(ctx context.Context, q string, args ...any) ([]Task, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanTask(sc scanner) (Task, error) {
	var t Task
	var nextRun, lastRun, lastResult, status, contextMode, script sql.NullString
	if err := sc.Scan(&t.ID, &t.GroupFolder, &t.ChatJID, &t.Prompt, &t.ScheduleType, &t.ScheduleValue,
		&nextRun, &lastRun, &lastResult, &status, &t.CreatedAt, &contextMode, &script); err != nil {
		return Task{}, err
	}
	t.NextRun, t.LastRun, t.LastResult, t.Script = nextRun.String, lastRun.String, lastResult.String, script.String
	t.Status, t.ContextMode = status.String, contextMode.String
	// NanoClaw runs anything but "group" as isolated; a legacy row may hold NULL.
	if !contextMode.Valid {
		t.ContextMode = "isolated"
	}
	return t, nil
}
