package ipc

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Op is one decoded request: the union of every request type's fields, read with the same
// strict parser the ipc plugin used to authorize it, so the host performs exactly what the
// plugin saw.
type Op struct {
	Type string

	// message
	ChatJID string
	Text    string
	Sender  string

	// schedule_task, update_task and the task operations
	TaskID        string
	Prompt        string
	ScheduleType  string
	ScheduleValue string // an interval written as a JSON number is kept as its digits
	TargetJID     string
	ContextMode   string
	Script        *string // nil: not given (update_task keeps the old one); "" clears
	HasPrompt     bool    // update_task: prompt given

	// register_group
	JID             string
	Name            string
	Folder          string
	Trigger         string
	RequiresTrigger *bool
	ContainerConfig []byte // raw JSON object, nil when absent
}

// ErrMalformed marks a request the host cannot read. The ipc plugin should have refused it
// already; the host checks again because it never performs what it cannot parse.
var ErrMalformed = errors.New("malformed IPC request")

// Decode reads a request body. It refuses what is not one JSON object, repeats a key, or
// gives a known field the wrong JSON type.
func Decode(body []byte) (Op, error) {
	v, err := wire.Parse(body)
	if err != nil {
		return Op{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if v.Kind != wire.Object {
		return Op{}, fmt.Errorf("%w: want a JSON object, got %s", ErrMalformed, v.Kind)
	}
	if k, dup := v.DuplicateKey(); dup {
		return Op{}, fmt.Errorf("%w: key %q appears twice", ErrMalformed, k)
	}
	var op Op
	var bad error
	str := func(name string, dst *string) {
		f := v.Field(name)
		switch f.Kind {
		case wire.Invalid, wire.Null:
		case wire.String:
			*dst, _ = f.Str()
		default:
			bad = errors.Join(bad, fmt.Errorf("%q must be a string, not %s", name, f.Kind))
		}
	}
	str("type", &op.Type)
	str("chatJid", &op.ChatJID)
	str("text", &op.Text)
	str("sender", &op.Sender)
	str("taskId", &op.TaskID)
	str("prompt", &op.Prompt)
	op.HasPrompt = v.Field("prompt").Kind == wire.String
	str("schedule_type", &op.ScheduleType)
	switch f := v.Field("schedule_value"); f.Kind {
	case wire.Number:
		if n, ok := f.Int(); ok {
			op.ScheduleValue = strconv.FormatInt(n, 10)
		} else {
			op.ScheduleValue = string(f.Raw)
		}
	default:
		str("schedule_value", &op.ScheduleValue)
	}
	str("targetJid", &op.TargetJID)
	str("context_mode", &op.ContextMode)
	if f := v.Field("script"); f.Kind == wire.String {
		s, _ := f.Str()
		op.Script = &s
	} else if f.Kind != wire.Invalid && f.Kind != wire.Null {
		bad = errors.Join(bad, fmt.Errorf("%q must be a string, not %s", "script", f.Kind))
	}
	str("jid", &op.JID)
	str("name", &op.Name)
	str("folder", &op.Folder)
	str("trigger", &op.Trigger)
	switch f := v.Field("requiresTrigger"); f.Kind {
	case wire.Invalid, wire.Null:
	case wire.Bool:
		b, _ := f.Bool()
		op.RequiresTrigger = &b
	default:
		bad = errors.Join(bad, fmt.Errorf("%q must be a boolean, not %s", "requiresTrigger", f.Kind))
	}
	switch f := v.Field("containerConfig"); f.Kind {
	case wire.Invalid, wire.Null:
	case wire.Object:
		op.ContainerConfig = append([]byte(nil), f.Raw...)
	default:
		bad = errors.Join(bad, fmt.Errorf("%q must be an object, not %s", "containerConfig", f.Kind))
	}
	if bad != nil {
		return Op{}, fmt.Errorf("%w: %w", ErrMalformed, bad)
	}
	if op.Type == "" {
		return Op{}, fmt.Errorf("%w: \"type\" is required", ErrMalformed)
	}
	return op, nil
}
