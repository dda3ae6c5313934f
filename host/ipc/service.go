package ipc

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// The request classes the ipc plugins know: messages, and everything else (tasks, groups).
// NanoClaw told them apart by the directory a file was written to; the host now derives
// the class from the request's type, so plugins and `nanoclaw policy ipc` see what they
// always saw.
const (
	DirMessages = "messages"
	DirTasks    = "tasks"
)

// DirFor is the request class of an IPC request type.
func DirFor(typ string) string {
	if typ == "message" {
		return DirMessages
	}
	return DirTasks
}

// Authorizer decides requests: the plugin registry's ipc chain.
type Authorizer interface {
	DecideIPC(ctx context.Context, req *protocol.IPCRequest) plugin.IPCDecision
}

// Facts is what the service asks the host about identities.
type Facts interface {
	// Group reports whether folder belongs to a registered group, and whether that group
	// is the main one. Identity is the socket a request arrived on, never its content.
	Group(ctx context.Context, folder string) (registered, isMain bool)
	// TaskGroup returns the folder of the group owning a task, "" when there is none.
	TaskGroup(ctx context.Context, taskID string) string
}

// Performer carries out an allowed request and returns what the agent is told (a task's
// id, the task list, ...); nil means a plain "done".
type Performer interface {
	Perform(ctx context.Context, req Request) (any, error)
}

// Refusals keeps refused requests for the operator; the store is one.
type Refusals interface {
	RecordIPCRefusal(ctx context.Context, r store.IPCRefusal) error
}

// Request is an allowed request, ready to perform.
type Request struct {
	Group  string // the folder of the socket it arrived on
	IsMain bool
	Op     Op
}

// Outcome is what became of one request (status, tests, benchmarks).
type Outcome struct {
	Group     string        `json:"group"`
	Type      string        `json:"type"`
	Performed bool          `json:"performed"`
	Code      string        `json:"code,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Elapsed   time.Duration `json:"elapsed"`
}

// Config is a Service's dependencies. Authorizer, Facts and Performer are required.
type Config struct {
	Authorizer Authorizer
	Facts      Facts
	Performer  Performer
	Refusals   Refusals // nil: refusals are only logged
	Log        hclog.Logger
	Now        func() time.Time
	// OnOutcome, when set, hears every request's fate.
	OnOutcome func(Outcome)
}

// Service answers the IPC requests of every group.
type Service struct {
	cfg Config
}

// NewService makes a Service.
func NewService(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// Handle authorizes and performs one request from group (the folder whose socket it came
// in on) and says how it went. It never panics on any body.
func (s *Service) Handle(ctx context.Context, group string, body []byte) runproto.IPCResponse {
	start := s.cfg.Now()
	out := Outcome{Group: group}
	refuse := func(code, reason string) runproto.IPCResponse {
		out.Code, out.Reason, out.Elapsed = code, reason, s.cfg.Now().Sub(start)
		s.cfg.Log.Warn("ipc request refused", "group", group, "type", out.Type, "code", code, "reason", reason)
		if s.cfg.Refusals != nil {
			err := s.cfg.Refusals.RecordIPCRefusal(context.WithoutCancel(ctx), store.IPCRefusal{At: store.Timestamp(start), Group: group,
				Type: out.Type, Code: code, Reason: reason, Request: string(body)})
			if err != nil {
				s.cfg.Log.Error("ipc: keeping a refused request failed", "group", group, "error", err)
			}
		}
		s.report(out)
		return runproto.IPCResponse{Code: code, Error: reason}
	}
	registered, isMain := s.cfg.Facts.Group(ctx, group)
	if !registered {
		return refuse(runproto.CodeRefused, "the socket of "+group+" belongs to no registered group")
	}
	op, err := Decode(body)
	if err != nil {
		return refuse(runproto.CodeMalformed, err.Error())
	}
	out.Type = op.Type
	req := protocol.IPCRequest{Group: group, IsMain: isMain, Dir: DirFor(op.Type), Request: body}
	if op.TaskID != "" && op.Type != "schedule_task" {
		req.TaskGroup = s.cfg.Facts.TaskGroup(ctx, op.TaskID)
	}
	d := s.cfg.Authorizer.DecideIPC(ctx, &req)
	if !d.Allow {
		by := d.DecidedBy
		if by == "" {
			by = "host"
		}
		return refuse(runproto.CodeRefused, "denied by "+by+": "+d.Reason)
	}
	result, err := s.cfg.Performer.Perform(ctx, Request{Group: group, IsMain: isMain, Op: op})
	if err != nil {
		return refuse(runproto.CodeFailed, "allowed, but performing it failed: "+err.Error())
	}
	out.Performed, out.Elapsed = true, s.cfg.Now().Sub(start)
	s.cfg.Log.Debug("ipc request performed", "group", group, "type", op.Type, "elapsed", out.Elapsed)
	s.report(out)
	return runproto.IPCResponse{OK: true, Result: result}
}

func (s *Service) report(o Outcome) {
	if s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(o)
	}
}
