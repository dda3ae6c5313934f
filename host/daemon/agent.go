package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/pipeline"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// processGroupMessages is the queue's message run for one group: the pending messages (at
// most MAX_MESSAGES_PER_PROMPT) go to a container as one prompt, follow-ups are piped to it
// while it runs, and every result's reply is stored and sent. Each input (the prompt, each
// follow-up) counts as answered only when a result naming it is stored; whatever the
// container leaves unanswered is taken back and run again, so nothing is lost and nothing is
// answered twice.
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
	pending, err := d.nextBatch(ctx, g, prev)
	if err != nil {
		d.log.Error("pending messages", "chat", jid, "error", err)
		return false
	}
	if len(pending) == 0 {
		return true
	}
	if prev == "" {
		// A chat's first run: if it is cut short, its cursor goes back to just before this
		// batch — not to "none", which would mean an old history not to replay, and would
		// skip whatever else came meanwhile.
		prev = justBefore(pending[0].Timestamp)
	}
	prompt := pipeline.FormatMessages(pending, d.cfg.Settings.Location)
	if err := d.answers.give(ctx, jid, runproto.PromptInput, prev, pending[len(pending)-1].Timestamp, triggerID(pending)); err != nil {
		d.log.Error("mark run in flight", "chat", jid, "error", err)
		d.answers.takeBack(jid)
		return false
	}
	d.markRead(ctx, jid, pending)
	d.typing(ctx, jid, true)
	var mu sync.Mutex
	failed := false
	var failure sandbox.RunOutput // the last error result: what went wrong, and of what kind
	session, _ := d.cfg.Store.Session(ctx, g.Folder)
	res, err := d.runAgent(ctx, agentRun{group: g, chatJID: jid, prompt: prompt, sessionID: session, saveSession: true}, func(o sandbox.RunOutput) {
		switch o.Status {
		case "success":
			var reply *store.Outgoing
			if o.Result != nil {
				if text := pipeline.FormatOutbound(*o.Result); text != "" {
					r := d.outgoing(jid, text, "reply:"+g.Folder)
					reply = &r
				}
			}
			if stored, err := d.answers.answer(ctx, jid, o.Inputs, reply); err != nil {
				d.log.Error("storing a reply failed; its messages will be answered again", "chat", jid, "error", err)
			} else if stored && reply != nil {
				d.wakeOutbox()
			}
			d.recovered(jid)
			// A backlog longer than one prompt goes on as follow-ups, a batch at a time.
			if !d.pipe(ctx, g) {
				d.queue.NotifyIdle(jid)
			}
		case runproto.StatusNotice:
			d.notice(ctx, jid, g.Folder, o.Notice)
		case "error":
			mu.Lock()
			failed = true // NanoClaw's hadError: the run failed even if the container then exits 0
			failure = o
			mu.Unlock()
		}
	})
	d.typing(ctx, jid, false)
	left := d.settle(ctx, g)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case left == 0:
		if err != nil || res.Status == "error" || failed {
			d.log.Warn("agent failed after answering everything it was given; nothing to retry", "chat", jid, "error", res.Error)
		}
		if more, _ := d.hasBatch(ctx, g); more && !d.stopping.Load() {
			d.queue.EnqueueMessageCheck(jid, g.Folder) // the rest of a backlog
		}
		return true
	case d.stopping.Load():
		d.log.Info("the host is stopping; unanswered messages are answered after the restart", "chat", jid, "count", left)
		return true
	case err != nil || res.Status == "error" || failed:
		kind, detail := failure.ErrorKind, cmp.Or(failure.Error, res.Error)
		if errors.Is(err, sandbox.ErrNoImage) {
			kind = failureImage
		}
		return d.runFailed(ctx, g, kind, detail, session != "", left)
	default:
		d.log.Info("follow-ups arrived as the container closed; they get a new run", "chat", jid, "inputs", left)
		d.queue.EnqueueMessageCheck(jid, g.Folder)
		return true
	}
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

// justBefore is a cursor one millisecond before ts ("" if ts is not a timestamp).
func justBefore(ts string) string {
	t, err := store.ParseTimestamp(ts)
	if err != nil {
		return ""
	}
	return store.Timestamp(t.Add(-time.Millisecond))
}

// newRunID names a container run on its group's socket.
func newRunID(now time.Time) string { return fmt.Sprintf("run-%d-%s", now.UnixMilli(), randBase36(8)) }

// staleSession matches errors that mean the stored session cannot be resumed; the session
// is then forgotten so the retry starts fresh (NanoClaw #1216).
var staleSession = regexp.MustCompile(`(?i)no conversation found|ENOENT.*\.jsonl|session.*not found`)

// runAgent runs one container for a group: the group's agent socket up with a run attached
// for this container, the spec built from the privilege table and the mount plugin, then
// sandbox.Run. The run is detached when the container is gone.
func (d *Daemon) runAgent(ctx context.Context, r agentRun, onOutput func(sandbox.RunOutput)) (sandbox.RunResult, error) {
	g, s := r.group, d.cfg.Settings
	cc, extra, err := parseContainerConfig(g.ContainerConfig)
	if err != nil {
		d.log.Warn("group's container configuration is invalid; running without its extra mounts", "group", g.Folder, "error", err)
	}
	sockDir, err := d.sockets.Listen(g.Folder)
	if err != nil {
		return sandbox.RunResult{Status: "error", Error: err.Error()}, err
	}
	run, err := d.sockets.StartRun(g.Folder, newRunID(d.now()))
	if err != nil {
		return sandbox.RunResult{Status: "error", Error: err.Error()}, err
	}
	defer run.End()
	// Memory is made from the templates on first use: a fresh checkout's main and global,
	// or a file a user deleted to start over. What exists is kept; a failure costs this run
	// its memory, not the run.
	if err := PrepareGroupDirs(d.cfg.Agents, g.Folder, g.IsMain, s.AssistantName); err != nil {
		d.log.Warn("memory not made from the templates; running without it", "group", g.Folder, "error", err)
	}
	spec, err := sandbox.BuildSpec(ctx, d.layout, sandbox.RunSpec{Folder: g.Folder, IsMain: g.IsMain, SocketDir: sockDir, Extra: extra,
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
		Close:  func() { d.queue.CloseRun(r.chatJID) },
		LogDir: filepath.Join(d.layout.DataDir, "logs", g.Folder), // host-only, never in the group folder
		Debug:  s.LogLevel == "debug" || s.LogLevel == "trace"}
	req := sandbox.RunRequest{Prompt: r.prompt, SessionID: r.sessionID, GroupFolder: g.Folder, ChatJID: r.chatJID,
		IsMain: g.IsMain, AssistantName: s.AssistantName, Model: s.Model, CompactAt: s.CompactAt, RunID: run.ID()}
	taskID := ""
	if r.task != nil {
		req.IsScheduledTask, req.Script, taskID = true, r.task.Script, r.task.ID
	}
	d.mu.Lock()
	d.running[g.Folder] = running{JID: r.chatJID, Task: taskID, Started: d.now()}
	resetGen := d.resets[g.Folder]
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.running, g.Folder)
		d.mu.Unlock()
	}()
	if r.task == nil {
		d.queue.Started(r.chatJID) // follow-ups may now go to this run
	}
	d.log.Info("agent run", "group", g.Folder, "task", taskID, "container", spec.Name, "run", run.ID())
	res, err := sandbox.Run(d.killCtx, d.cfg.Runtime, spec, req, cfg, func(o sandbox.RunOutput) {
		d.mu.Lock()
		reset := d.resets[g.Folder] != resetGen
		d.mu.Unlock()
		if o.NewSessionID != "" && r.saveSession && !reset {
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
