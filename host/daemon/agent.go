package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/ipc"
	"github.com/nanoclaw/nanoclaw-go/host/pipeline"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// processGroupMessages is the queue's message run for one group: the pending messages (at
// most MAX_MESSAGES_PER_PROMPT) go to a container as one prompt, and every result goes back
// to the chat. The cursor advances before the run and rolls back if the run fails before
// anything reached the user, so a failure is retried and a partial answer is not repeated.
func (d *Daemon) processGroupMessages(ctx context.Context, jid string) bool {
	g, ok := d.groups.ByJID(jid)
	if !ok {
		return true
	}
	if _, ok := d.chans.Owner(jid); !ok {
		d.log.Warn("no connected channel owns the chat; messages wait", "chat", jid)
		return true
	}
	prev, err := d.cursor(ctx, jid)
	if err != nil {
		d.log.Error("read cursor", "chat", jid, "error", err)
		return false
	}
	pending, err := d.cfg.Store.MessagesSince(ctx, jid, prev, d.botPrefix(), d.cfg.Settings.MaxMessagesPerPrompt)
	if err != nil {
		d.log.Error("pending messages", "chat", jid, "error", err)
		return false
	}
	if len(pending) == 0 {
		return true
	}
	d.pipeMu.Lock()
	delete(d.piped, jid)
	d.pipeMu.Unlock()
	prompt := pipeline.FormatMessages(pending, d.cfg.Settings.Location)
	if err := d.setInflight(ctx, jid, prev); err != nil {
		d.log.Error("mark run in flight", "chat", jid, "error", err)
		return false
	}
	if err := d.cfg.Store.SetAgentCursor(ctx, jid, pending[len(pending)-1].Timestamp); err != nil {
		d.log.Error("advance cursor", "chat", jid, "error", err)
		return false
	}
	d.typing(ctx, jid, true)
	var mu sync.Mutex
	sent, failed := false, false
	session, _ := d.cfg.Store.Session(ctx, g.Folder)
	res, err := d.runAgent(ctx, agentRun{group: g, chatJID: jid, prompt: prompt, sessionID: session, saveSession: true}, func(o sandbox.RunOutput) {
		if o.Result != nil {
			if text := pipeline.FormatOutbound(*o.Result); text != "" {
				d.replied(ctx, jid) // from here on, a retry would repeat the answer
				mu.Lock()
				sent = true
				mu.Unlock()
				if err := d.send(ctx, jid, text); err != nil {
					d.log.Error("reply not delivered", "chat", jid, "error", err)
				}
			}
		}
		if o.Status == "success" {
			d.queue.NotifyIdle(jid)
		}
		if o.Status == "error" {
			mu.Lock()
			failed = true // NanoClaw's hadError: the run failed even if the container then exits 0
			mu.Unlock()
		}
	})
	d.typing(ctx, jid, false)
	d.settlePiped(ctx, g)
	mu.Lock()
	defer mu.Unlock()
	if err == nil && res.Status != "error" && !failed {
		d.clearInflight(ctx, jid)
		return true
	}
	if sent {
		d.log.Warn("agent failed after replying; not retrying, to avoid a duplicate answer", "chat", jid, "error", res.Error)
		d.clearInflight(ctx, jid)
		return true
	}
	d.log.Warn("agent failed; messages will be retried", "chat", jid, "error", res.Error)
	if err := d.cfg.Store.SetAgentCursor(ctx, jid, prev); err != nil {
		d.log.Error("roll back cursor", "chat", jid, "error", err)
	}
	d.clearInflight(ctx, jid)
	return false
}

// agentRun is one container run's parameters.
type agentRun struct {
	group       store.Group
	chatJID     string
	prompt      string
	sessionID   string
	saveSession bool        // keep the session the run reports (messages; group-mode tasks)
	task        *store.Task // set for a scheduled task
	idle        time.Duration
}

// staleSession matches errors that mean the stored session cannot be resumed; the session
// is then forgotten so the retry starts fresh (NanoClaw #1216).
var staleSession = regexp.MustCompile(`(?i)no conversation found|ENOENT.*\.jsonl|session.*not found`)

// runAgent runs one container for a group: snapshots written, the group's proxy socket up,
// the spec built from the privilege table and the mount plugin, then sandbox.Run.
func (d *Daemon) runAgent(ctx context.Context, r agentRun, onOutput func(sandbox.RunOutput)) (sandbox.RunResult, error) {
	g, s := r.group, d.cfg.Settings
	cc, extra, err := parseContainerConfig(g.ContainerConfig)
	if err != nil {
		d.log.Warn("group's container configuration is invalid; running without its extra mounts", "group", g.Folder, "error", err)
	}
	if err := d.ensureProxy(g.Folder); err != nil {
		return sandbox.RunResult{Status: "error", Error: err.Error()}, err
	}
	d.writeSnapshotsFor(ctx, g)
	spec, err := sandbox.BuildSpec(ctx, d.layout, sandbox.RunSpec{Folder: g.Folder, IsMain: g.IsMain, Extra: extra,
		Image: s.ContainerImage, TZ: s.TZ, Limits: d.cfg.Limits, Now: d.now()}, d.cfg.Policy, d.log.Named("sandbox"))
	if err != nil {
		return sandbox.RunResult{Status: "error", Error: err.Error()}, err
	}
	timeout := s.ContainerTimeout
	if cc.Timeout > 0 {
		timeout = time.Duration(cc.Timeout) * time.Millisecond
	}
	idle := s.IdleTimeout
	if r.idle > 0 {
		idle = r.idle
	}
	cfg := sandbox.RunConfig{Timeout: timeout, Idle: idle, MaxOutput: s.MaxOutputBytes,
		InputDir: filepath.Join(d.layout.DataDir, "ipc", g.Folder, "input"),
		LogDir:   filepath.Join(d.layout.DataDir, "logs", g.Folder), // host-only, never in the group folder
		Debug:    s.LogLevel == "debug" || s.LogLevel == "trace"}
	req := sandbox.RunRequest{Prompt: r.prompt, SessionID: r.sessionID, GroupFolder: g.Folder, ChatJID: r.chatJID,
		IsMain: g.IsMain, AssistantName: s.AssistantName, Model: s.Model}
	taskID := ""
	if r.task != nil {
		req.IsScheduledTask, req.Script, taskID = true, r.task.Script, r.task.ID
	}
	d.mu.Lock()
	d.running[g.Folder] = running{JID: r.chatJID, Task: taskID, Started: d.now()}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.running, g.Folder)
		d.mu.Unlock()
	}()
	if r.task == nil {
		d.queue.Started(r.chatJID) // follow-ups may now go to this run's input directory
	}
	d.log.Info("agent run", "group", g.Folder, "task", taskID, "container", spec.Name)
	res, err := sandbox.Run(ctx, d.cfg.Runtime, spec, req, cfg, func(o sandbox.RunOutput) {
		if o.NewSessionID != "" && r.saveSession {
			if err := d.cfg.Store.SetSession(ctx, g.Folder, o.NewSessionID); err != nil {
				d.log.Error("save session", "group", g.Folder, "error", err)
			}
		}
		onOutput(o)
	})
	if res.Status == "error" && r.sessionID != "" && staleSession.MatchString(res.Error) {
		d.log.Warn("stale session cleared; the retry starts fresh", "group", g.Folder, "session", r.sessionID)
		if err := d.cfg.Store.DeleteSession(ctx, g.Folder); err != nil {
			d.log.Error("clear session", "group", g.Folder, "error", err)
		}
	}
	d.log.Info("agent run ended", "group", g.Folder, "status", res.Status, "duration", res.Duration, "timed_out", res.TimedOut, "log", res.LogFile)
	return res, err
}

// ensureProxy serves the group's model API socket, once per group for the host's life.
func (d *Daemon) ensureProxy(folder string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.listening[folder] {
		return nil
	}
	if err := d.cfg.Proxy.Listen(folder, filepath.Join(d.layout.DataDir, "proxy", folder, "api.sock")); err != nil {
		return fmt.Errorf("model API socket for %s: %w", folder, err)
	}
	d.listening[folder] = true
	return nil
}

// writeSnapshots rewrites every registered group's snapshots (after tasks or groups change).
func (d *Daemon) writeSnapshots(ctx context.Context) {
	for _, g := range d.groups.All() {
		d.writeSnapshotsFor(ctx, g)
	}
}

// writeSnapshotsFor writes one group's current_tasks.json and available_groups.json.
func (d *Daemon) writeSnapshotsFor(ctx context.Context, g store.Group) {
	dir := filepath.Join(d.layout.DataDir, "ipc")
	tasks, err := d.cfg.Store.Tasks(ctx)
	if err == nil {
		err = ipc.WriteTasksSnapshot(dir, g.Folder, g.IsMain, tasks)
	}
	if err != nil {
		d.log.Error("tasks snapshot", "group", g.Folder, "error", err)
	}
	var avail []store.AvailableGroup
	if g.IsMain {
		if avail, err = d.cfg.Store.AvailableGroups(ctx); err != nil {
			d.log.Error("available groups", "error", err)
		}
	}
	last, _ := d.cfg.Store.LastGroupSync(ctx)
	if err := ipc.WriteGroupsSnapshot(dir, g.Folder, g.IsMain, avail, last); err != nil {
		d.log.Error("groups snapshot", "group", g.Folder, "error", err)
	}
}
