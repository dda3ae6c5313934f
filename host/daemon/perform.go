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
)

// Perform carries out an IPC request the ipc plugin allowed. The host re-checks only what
// it must know to act (the target exists), never the policy itself.
func (d *Daemon) Perform(ctx context.Context, r ipc.Request) error {
	op := r.Op
	switch op.Type {
	case "message":
		// NanoClaw sends IPC text as written: the agent chose to send it.
		return d.send(ctx, op.ChatJID, op.Text)
	case "schedule_task":
		return d.scheduleTask(ctx, r)
	case "pause_task", "resume_task", "cancel_task", "update_task":
		err := d.changeTask(ctx, op)
		if err == nil {
			d.writeSnapshots(ctx)
			d.sched.Wake()
		}
		return err
	case "list_tasks":
		if g, ok := d.groups.ByFolder(r.Group); ok {
			d.writeSnapshotsFor(ctx, g)
		}
		return nil
	case "refresh_groups":
		for _, ch := range d.chans.All() {
			if s, ok := ch.(channel.GroupSyncer); ok {
				if err := s.SyncGroups(ctx, true); err != nil {
					d.log.Warn("group sync", "channel", ch.Name(), "error", err)
				}
			}
		}
		if g, ok := d.groups.ByFolder(r.Group); ok {
			d.writeSnapshotsFor(ctx, g)
		}
		return nil
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
		return d.Register(ctx, g)
	}
	return fmt.Errorf("unknown request type %q", op.Type)
}

// scheduleTask creates a task from an allowed schedule_task request.
func (d *Daemon) scheduleTask(ctx context.Context, r ipc.Request) error {
	op := r.Op
	target, ok := d.groups.ByJID(op.TargetJID)
	if !ok {
		return fmt.Errorf("target %s is not registered", op.TargetJID)
	}
	now := d.now()
	next, err := scheduler.FirstRun(op.ScheduleType, op.ScheduleValue, now, d.cfg.Settings.Location)
	if err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	mode := op.ContextMode
	if mode != "group" {
		mode = "isolated" // NanoClaw: anything else means isolated
	}
	id := op.TaskID
	if id == "" {
		id = newTaskID(now)
	}
	t := store.Task{ID: id, GroupFolder: target.Folder, ChatJID: target.JID, Prompt: op.Prompt, ScheduleType: op.ScheduleType,
		ScheduleValue: op.ScheduleValue, NextRun: next, Status: store.TaskActive, CreatedAt: store.Timestamp(now), ContextMode: mode}
	if op.Script != nil {
		t.Script = *op.Script
	}
	if err := d.cfg.Store.CreateTask(ctx, t); err != nil {
		return err
	}
	d.log.Info("task scheduled", "task", id, "group", target.Folder, "next_run", next, "by", r.Group)
	d.writeSnapshots(ctx)
	d.sched.Wake()
	return nil
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
