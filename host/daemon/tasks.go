package daemon

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/pipeline"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// taskCloseDelay bounds how long a task's container may stay silent before it is asked to
// wind down (NanoClaw: 10 s after a result). A task gets no follow-up messages, so its
// container is also closed as soon as it reports success.
const taskCloseDelay = 10 * time.Second

// dispatchTask is the scheduler's hand-off: the claimed task joins its group's queue.
func (d *Daemon) dispatchTask(t store.Task) {
	if !d.queue.EnqueueTask(t.ChatJID, t.GroupFolder, t.ID, func(ctx context.Context) { d.runTask(ctx, t) }) {
		d.log.Info("task already queued or running; this firing is skipped", "task", t.ID)
	}
}

// runTask runs one scheduled task in a container and records how it went.
func (d *Daemon) runTask(ctx context.Context, t store.Task) {
	start := d.now()
	logRun := func(status, result, errText string) {
		if err := d.cfg.Store.LogTaskRun(ctx, store.TaskRunLog{TaskID: t.ID, RunAt: store.Timestamp(d.now()),
			DurationMS: d.now().Sub(start).Milliseconds(), Status: status, Result: result, Error: errText}); err != nil {
			d.log.Error("task run log", "task", t.ID, "error", err)
		}
	}
	if !ipcpolicy.ValidFolder(t.GroupFolder) {
		paused := store.TaskPaused
		_ = d.cfg.Store.UpdateTask(ctx, t.ID, store.TaskUpdate{Status: &paused})
		logRun("error", "", "invalid group folder "+t.GroupFolder+"; task paused")
		d.log.Error("task has an invalid group folder; paused", "task", t.ID, "folder", t.GroupFolder)
		return
	}
	g, ok := d.groups.ByFolder(t.GroupFolder)
	if !ok {
		logRun("error", "", "group not found: "+t.GroupFolder)
		d.log.Error("task's group is not registered", "task", t.ID, "folder", t.GroupFolder)
		return
	}
	session := ""
	if t.ContextMode == "group" {
		session, _ = d.cfg.Store.Session(ctx, g.Folder)
	}
	var mu sync.Mutex
	var results []string
	reported := "" // an error block's text: the run failed even if the container then exits 0
	res, err := d.runAgent(ctx, agentRun{group: g, chatJID: t.ChatJID, prompt: t.Prompt, sessionID: session,
		saveSession: t.ContextMode == "group", task: &t, idle: taskCloseDelay}, func(o sandbox.RunOutput) {
		if o.Result != nil {
			if text := pipeline.FormatOutbound(*o.Result); text != "" {
				mu.Lock()
				results = append(results, text)
				mu.Unlock()
				if err := d.queueSend(ctx, t.ChatJID, text, "task:"+t.ID); err != nil {
					d.log.Error("task result not stored for sending", "task", t.ID, "error", err)
				}
			}
		}
		if o.Status == runproto.StatusNotice {
			d.notice(ctx, t.ChatJID, g.Folder, o.Notice)
		}
		if o.Status == "success" {
			d.queue.CloseRun(t.ChatJID)
		}
		if o.Status == "error" {
			mu.Lock()
			if reported == "" {
				reported = cmp.Or(o.Error, "the agent reported an error")
			}
			mu.Unlock()
		}
	})
	mu.Lock()
	result := strings.Join(results, "\n\n")
	failed := reported
	mu.Unlock()
	status, errText, summary := "success", "", "Completed"
	if err != nil || res.Status == "error" || failed != "" {
		status, errText = "error", res.Error
		if errText == "" && err != nil {
			errText = err.Error()
		}
		if errText == "" {
			errText = failed
		}
		summary = "Error: " + errText
	} else if result != "" {
		summary = truncateRunes(result, 200)
	}
	logRun(status, result, errText)
	if err := d.cfg.Store.FinishTask(ctx, t.ID, store.Timestamp(d.now()), summary); err != nil {
		d.log.Error("finish task", "task", t.ID, "error", err)
	}
	d.sched.Wake()
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// newTaskID is NanoClaw's task id shape: task-<unix ms>-<6 base36>.
func newTaskID(now time.Time) string {
	return fmt.Sprintf("task-%d-%s", now.UnixMilli(), randBase36(6))
}
