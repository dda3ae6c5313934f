package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/ipc"
	"github.com/nanoclaw/nanoclaw-go/host/scheduler"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Perform carries out an IPC request the ipc plugin allowed and returns what the agent is
// told. The host re-checks only what it must know to act (the target exists), never the
// policy itself.
func (d *Daemon) Perform(ctx context.Context, r ipc.Request) (any, error) {
	op := r.Op
	switch op.Type {
	case "message":
		// NanoClaw sends IPC text as written: the agent chose to send it. It is stored
		// first, so "sent" means it will reach the chat even across a crash.
		if _, ok := d.chans.Owner(op.ChatJID); !ok {
			return nil, fmt.Errorf("no connected channel owns chat %s", op.ChatJID)
		}
		return nil, d.queueSend(ctx, op.ChatJID, op.Text, "ipc:"+r.Group)
	case "schedule_task":
		return d.scheduleTask(ctx, r)
	case "pause_task", "resume_task", "cancel_task", "update_task":
		err := d.changeTask(ctx, op)
		if err == nil {
			d.sched.Wake()
		}
		return nil, err
	case "list_tasks":
		return d.taskList(ctx, r.Group, r.IsMain)
	case "available_groups":
		return d.groupList(ctx, r.IsMain)
	case "refresh_groups":
		for _, ch := range d.chans.All() {
			if s, ok := ch.(channel.GroupSyncer); ok {
				if err := s.SyncGroups(ctx, true); err != nil {
					d.log.Warn("group sync", "channel", ch.Name(), "error", err)
				}
			}
		}
		return nil, nil
	case "register_group":
		g := store.Group{JID: op.JID, Name: op.Name, Folder: op.Folder, Trigger: op.Trigger, RequiresTrigger: true, ContainerConfig: op.ContainerConfig}
		if op.RequiresTrigger != nil {
			g.RequiresTrigger = *op.RequiresTrigger
		}
		// An agent can never grant main: the flag is kept from an existing registration.
		if old, ok := d.groups.ByJID(op.JID); ok {
			g.IsMain = old.IsMain
			g.AddedAt = old.AddedAt
		}
		return nil, d.Register(ctx, g)
	}
	return nil, fmt.Errorf("unknown request type %q", op.Type)
}

// taskList is what list_tasks answers: every task for main, the group's own otherwise.
func (d *Daemon) taskList(ctx context.Context, folder string, isMain bool) (runproto.TaskList, error) {
	tasks, err := d.cfg.Store.Tasks(ctx)
	if err != nil {
		return runproto.TaskList{}, err
	}
	list := runproto.TaskList{Tasks: []runproto.TaskInfo{}}
	for _, t := range tasks {
		if !isMain && t.GroupFolder != folder {
			continue
		}
		info := runproto.TaskInfo{ID: t.ID, GroupFolder: t.GroupFolder, Prompt: t.Prompt, Script: t.Script,
			ScheduleType: t.ScheduleType, ScheduleValue: t.ScheduleValue, Status: t.Status}
		if t.NextRun != "" {
			next := t.NextRun
			info.NextRun = &next
		}
		list.Tasks = append(list.Tasks, info)
	}
	return list, nil
}

// groupList is what available_groups answers: the chats main may register. The ipc plugin
// allows it for main only; the host gives any other group an empty list all the same.
func (d *Daemon) groupList(ctx context.Context, isMain bool) (runproto.GroupList, error) {
	list := runproto.GroupList{Groups: []runproto.AvailableGroup{}}
	list.LastSync, _ = d.cfg.Store.LastGroupSync(ctx)
	if !isMain {
		return list, nil
	}
	avail, err := d.cfg.Store.AvailableGroups(ctx)
	if err != nil {
		return list, err
	}
	for _, g := range avail {
		list.Groups = append(list.Groups, runproto.AvailableGroup{JID: g.JID, Name: g.Name, LastActivity: g.LastActivity, IsRegistered: g.IsRegistered})
	}
	return list, nil
}

// maxTasksPerGroup bounds what one agent can make the scheduler carry.
const maxTasksPerGroup = 100

// scheduleTask creates a task from an allowed schedule_task request; the host assigns its
// id unless the request names one that no task has.
func (d *Daemon) scheduleTask(ctx context.Context, r ipc.Request) (runproto.TaskScheduled, error) {
	op := r.Op
	target, ok := d.groups.ByJID(op.TargetJID)
	if !ok {
		return runproto.TaskScheduled{}, fmt.Errorf("target %s is not registered", op.TargetJID)
	}
	now := d.now()
	next, err := scheduler.FirstRun(op.ScheduleType, op.ScheduleValue, now, d.cfg.Settings.Location)
	if err != nil {
		return runproto.TaskScheduled{}, fmt.Errorf("schedule: %w", err)
	}
	mode := op.ContextMode
	if mode != "group" {
		mode = "isolated" // NanoClaw: anything else means isolated
	}
	if tasks, err := d.cfg.Store.TasksForGroup(ctx, target.Folder); err != nil {
		return runproto.TaskScheduled{}, err
	} else if len(tasks) >= maxTasksPerGroup {
		return runproto.TaskScheduled{}, fmt.Errorf("%s already has %d scheduled tasks, the most a group may have; cancel some first", target.Folder, len(tasks))
	}
	id := op.TaskID
	if id == "" {
		id = newTaskID(now)
	} else if _, exists, err := d.cfg.Store.Task(ctx, id); err != nil || exists {
		return runproto.TaskScheduled{}, fmt.Errorf("task id %s is taken; leave taskId out and the host assigns one", id)
	}
	t := store.Task{ID: id, GroupFolder: target.Folder, ChatJID: target.JID, Prompt: op.Prompt, ScheduleType: op.ScheduleType,
		ScheduleValue: op.ScheduleValue, NextRun: next, Status: store.TaskActive, CreatedAt: store.Timestamp(now), ContextMode: mode}
	if op.Script != nil {
		t.Script = *op.Script
	}
	if err := d.cfg.Store.CreateTask(ctx, t); err != nil {
		return runproto.TaskScheduled{}, err
	}
	d.log.Info("task scheduled", "task", id, "group", target.Folder, "next_run", next, "by", r.Group)
	d.sched.Wake()
	return runproto.TaskScheduled{TaskID: id, NextRun: next}, nil
}

// changeTask pauses, resumes, cancels or edits a task. Resuming or rescheduling computes
// next_run afresh from now (NanoClaw left a stale one, so a long-paused task fired at once).
func (d *Daemon) changeTask(ctx context.Context, op ipc.Op) error {
	t, ok, err := d.cfg.Store.Task(ctx, op.TaskID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no task %s", op.TaskID)
	}
	now := d.now()
	var u store.TaskUpdate
	switch op.Type {
	case "cancel_task":
		return d.cfg.Store.DeleteTask(ctx, t.ID)
	case "pause_task":
		st := store.TaskPaused
		u.Status = &st
	case "resume_task":
		st := store.TaskActive
		u.Status = &st
		if t.ScheduleType != "once" || t.NextRun == "" {
			next, err := scheduler.FirstRun(t.ScheduleType, t.ScheduleValue, now, d.cfg.Settings.Location)
			if err != nil {
				return fmt.Errorf("resume: %w", err)
			}
			u.NextRun = &next
		}
	case "update_task":
		if op.HasPrompt {
			u.Prompt = &op.Prompt
		}
		u.Script = op.Script
		kind, value := t.ScheduleType, t.ScheduleValue
		if op.ScheduleType != "" {
			kind, u.ScheduleType = op.ScheduleType, &op.ScheduleType
		}
		if op.ScheduleValue != "" {
			value, u.ScheduleValue = op.ScheduleValue, &op.ScheduleValue
		}
		if u.ScheduleType != nil || u.ScheduleValue != nil {
			next, err := scheduler.FirstRun(kind, value, now, d.cfg.Settings.Location)
			if err != nil {
				return fmt.Errorf("update: %w", err)
			}
			u.NextRun = &next
		}
	default:
		return errors.New("not a task operation: " + op.Type)
	}
	return d.cfg.Store.UpdateTask(ctx, t.ID, u)
}

// randBase36 is n random base-36 digits, for ids.
func randBase36(n int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		v, _ := rand.Int(rand.Reader, big.NewInt(36))
		b[i] = digits[v.Int64()]
	}
	return string(b)
}
