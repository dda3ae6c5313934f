// Package ipcpolicy authorizes the requests agents make over their agent sockets: NanoClaw's
// main/non-main matrix (send messages, manage tasks, register groups), plus a strict check
// of each request's shape, so the host only ever performs well-formed, allowed operations.
// It is pure Go: the same code runs natively (tests, benchmarks, the differential fuzzer)
// and inside the ipcauthz wasm plugin.
//
// The requesting group's identity is the socket the request arrived on (Group and IsMain in
// the envelope, set by the host); fields inside the request that claim an identity
// (groupFolder, isMain) are ignored. No request can make any group main.
package ipcpolicy

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/schedule"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Facts is what the policy asks its host.
type Facts interface {
	// LookupGroup finds the registered group of a chat JID.
	LookupGroup(jid string) (protocol.Group, bool)
}

// Authorizer decides IPC requests.
type Authorizer struct{ facts Facts }

// New makes an Authorizer over f.
func New(f Facts) *Authorizer { return &Authorizer{facts: f} }

func deny(reason string) protocol.IPCVerdict {
	return protocol.IPCVerdict{Reason: protocol.CapReason(reason)}
}
func allow(reason string) protocol.IPCVerdict {
	return protocol.IPCVerdict{Allow: true, Reason: reason}
}

// Decide answers one request.
func (a *Authorizer) Decide(req *protocol.IPCRequest) protocol.IPCVerdict {
	if !ValidFolder(req.Group) {
		return deny("request arrived from an invalid group folder")
	}
	body, err := wire.Parse(req.Request)
	if err != nil {
		return deny("request is not valid JSON: " + err.Error())
	}
	if body.Kind != wire.Object {
		return deny("request must be a JSON object")
	}
	if k, dup := body.DuplicateKey(); dup {
		return deny("request repeats the key " + strconv.Quote(k) + " (readers disagree on which copy counts)")
	}
	r := fields{v: body}
	typ := r.str("type", true)
	if r.bad != "" {
		return deny(r.bad)
	}
	switch req.Dir {
	case "messages":
		if typ != "message" {
			return deny("unknown message type " + strconv.Quote(typ) + " in messages/")
		}
		return a.message(req, &r)
	case "tasks":
	default:
		return deny("unknown IPC directory " + strconv.Quote(req.Dir))
	}
	switch typ {
	case "schedule_task":
		return a.schedule(req, &r)
	case "pause_task", "resume_task", "cancel_task":
		r.taskID("taskId", true)
		if r.bad != "" {
			return deny(typ + ": " + r.bad)
		}
		return ownsTask(req, typ)
	case "update_task":
		return a.update(req, &r)
	case "list_tasks":
		if req.IsMain {
			return allow("main sees every task")
		}
		return allow("a non-main group sees its own tasks")
	case "refresh_groups":
		if !req.IsMain {
			return deny("only the main group can refresh groups")
		}
		return allow("main refreshes groups")
	case "available_groups":
		if !req.IsMain {
			return deny("only the main group sees the chats it may register")
		}
		return allow("main lists the chats it may register")
	case "register_group":
		return a.register(req, &r)
	case "message":
		return deny("message requests belong in messages/, not tasks/")
	}
	return deny("unknown IPC task type " + strconv.Quote(typ))
}

func (a *Authorizer) message(req *protocol.IPCRequest, r *fields) protocol.IPCVerdict {
	jid := r.str("chatJid", true)
	r.nonEmpty("text")
	r.str("sender", false)
	if r.bad != "" {
		return deny("message: " + r.bad)
	}
	if req.IsMain {
		return allow("main may message any chat")
	}
	g, ok := a.facts.LookupGroup(jid)
	if !ok {
		return deny("a non-main group may only message its own chat; " + jid + " is not registered")
	}
	if g.Folder != req.Group {
		return deny("a non-main group may only message its own chat; " + jid + " belongs to " + g.Folder)
	}
	return allow("message to the group's own chat")
}

func (a *Authorizer) schedule(req *protocol.IPCRequest, r *fields) protocol.IPCVerdict {
	r.nonEmpty("prompt")
	r.scheduleValue(r.enum("schedule_type", true, "cron", "interval", "once"), true)
	jid := r.str("targetJid", true)
	r.taskID("taskId", false)
	r.str("context_mode", false) // NanoClaw: anything but group/isolated means isolated
	r.str("script", false)
	if r.bad != "" {
		return deny("schedule_task: " + r.bad)
	}
	g, ok := a.facts.LookupGroup(jid)
	if !ok {
		return deny("schedule_task: target " + jid + " is not a registered group")
	}
	if !req.IsMain && g.Folder != req.Group {
		return deny("a non-main group may only schedule tasks for itself; " + jid + " belongs to " + g.Folder)
	}
	return allow("schedule a task for " + g.Folder)
}

func (a *Authorizer) update(req *protocol.IPCRequest, r *fields) protocol.IPCVerdict {
	r.taskID("taskId", true)
	r.str("prompt", false)
	r.str("script", false)
	typ := r.enum("schedule_type", false, "cron", "interval", "once")
	r.scheduleValue(typ, false)
	if r.bad != "" {
		return deny("update_task: " + r.bad)
	}
	return ownsTask(req, "update_task")
}

func ownsTask(req *protocol.IPCRequest, op string) protocol.IPCVerdict {
	switch {
	case req.TaskGroup == "":
		return deny(op + ": no such task")
	case req.IsMain:
		return allow(op + " by main")
	case req.TaskGroup != req.Group:
		return deny("a non-main group may only " + op + " its own tasks; the task belongs to " + req.TaskGroup)
	}
	return allow(op + " of the group's own task")
}

func (a *Authorizer) register(req *protocol.IPCRequest, r *fields) protocol.IPCVerdict {
	if !req.IsMain {
		return deny("only the main group can register groups")
	}
	r.nonEmpty("jid")
	r.nonEmpty("name")
	folder := r.str("folder", true)
	r.nonEmpty("trigger")
	r.boolean("requiresTrigger")
	r.object("containerConfig")
	if r.bad != "" {
		return deny("register_group: " + r.bad)
	}
	if !ValidFolder(folder) {
		return deny("register_group: folder " + strconv.Quote(folder) + " must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ and not be \"global\"")
	}
	if m := r.v.Field("isMain"); m.Kind != wire.Invalid {
		if b, _ := m.Bool(); b {
			return deny("register_group: an agent cannot make a group main")
		}
	}
	return allow("main registers " + folder)
}

// ValidFolder is the group folder rule: ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$, with "global"
// (any case) reserved for the shared memory folder.
func ValidFolder(f string) bool {
	if len(f) == 0 || len(f) > 64 || strings.EqualFold(f, "global") {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// fields reads members of a request object, recording the first shape problem in bad.
type fields struct {
	v   wire.Value
	bad string
}

func (r *fields) fail(msg string) {
	if r.bad == "" {
		r.bad = msg
	}
}

func (r *fields) str(name string, required bool) string {
	f := r.v.Field(name)
	switch f.Kind {
	case wire.Invalid, wire.Null:
		if required {
			r.fail(strconv.Quote(name) + " is required")
		}
		return ""
	case wire.String:
		s, _ := f.Str()
		return s
	}
	r.fail(strconv.Quote(name) + " must be a string, not " + f.Kind.String())
	return ""
}

func (r *fields) nonEmpty(name string) string {
	s := r.str(name, true)
	if r.bad == "" && strings.TrimSpace(s) == "" {
		r.fail(strconv.Quote(name) + " must not be empty")
	}
	return s
}

func (r *fields) enum(name string, required bool, values ...string) string {
	s := r.str(name, required)
	if s == "" || r.bad != "" {
		return s
	}
	for _, v := range values {
		if s == v {
			return s
		}
	}
	r.fail(strconv.Quote(name) + " must be one of " + strings.Join(values, ", ") + ", not " + strconv.Quote(s))
	return ""
}

func (r *fields) boolean(name string) {
	f := r.v.Field(name)
	if f.Kind != wire.Invalid && f.Kind != wire.Null && f.Kind != wire.Bool {
		r.fail(strconv.Quote(name) + " must be a boolean, not " + f.Kind.String())
	}
}

func (r *fields) object(name string) {
	f := r.v.Field(name)
	if f.Kind != wire.Invalid && f.Kind != wire.Null && f.Kind != wire.Object {
		r.fail(strconv.Quote(name) + " must be an object, not " + f.Kind.String())
	}
}

func (r *fields) taskID(name string, required bool) {
	id := r.str(name, required)
	if id == "" || r.bad != "" {
		return
	}
	if len(id) > 128 || !validID(id) {
		r.fail(strconv.Quote(name) + " is not a valid task id")
	}
}

// validID allows task ids such as task-1732540000000-a1b2c3: letters, digits, '-' and '_'.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return len(id) > 0
}

// scheduleValue validates schedule_value for the given type. An interval may be written as
// a string of digits or as a JSON integer. With no type (update_task), the value must be
// valid as one of the types.
func (r *fields) scheduleValue(typ string, required bool) {
	f := r.v.Field("schedule_value")
	var value string
	switch f.Kind {
	case wire.Invalid, wire.Null:
		if required {
			r.fail("\"schedule_value\" is required")
		}
		return
	case wire.String:
		value, _ = f.Str()
	case wire.Number:
		value = string(f.Raw)
	default:
		r.fail("\"schedule_value\" must be a string, not " + f.Kind.String())
		return
	}
	if r.bad != "" {
		return
	}
	kinds := []string{typ}
	if typ == "" {
		kinds = []string{"cron", "interval", "once"}
	}
	var last error
	for _, k := range kinds {
		sch, err := schedule.Parse(schedule.Kind(k), value, time.UTC)
		if err == nil && sch.Kind() == schedule.Interval && sch.Every() < schedule.MinInterval {
			err = errors.New("an interval must be at least a minute (60000 ms)")
		}
		if err == nil {
			return
		}
		last = err
	}
	r.fail("invalid schedule_value " + strconv.Quote(value) + ": " + last.Error())
}
