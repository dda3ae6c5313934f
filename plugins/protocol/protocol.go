// Package protocol defines the requests and verdicts of the three policy kinds as they travel
// through the ABI mailbox, with their JSON encoding. The host and every Go guest import this
// one package, so the two ends of a decision cannot drift apart; plugins/ABI.md documents the
// same shapes for guests in other languages.
package protocol

import (
	"errors"
	"fmt"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// Kind is a plugin kind: which decision it makes.
type Kind string

// The plugin kinds.
const (
	KindMount Kind = "mount"
	KindIPC   Kind = "ipc"
	KindRoute Kind = "route"
)

// Kinds lists every kind in a stable order.
func Kinds() []Kind { return []Kind{KindMount, KindIPC, KindRoute} }

// Hook is the ABI hook number of the kind, or 0 for an unknown kind.
func (k Kind) Hook() abi.Hook {
	switch k {
	case KindMount:
		return abi.HookMount
	case KindIPC:
		return abi.HookIPC
	case KindRoute:
		return abi.HookRoute
	}
	return 0
}

// Security reports whether the kind guards a boundary: its chain fails closed (deny) and
// every plugin in it must allow. Route is not a security kind: a fault means "no decision".
func (k Kind) Security() bool { return k == KindMount || k == KindIPC }

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k.Hook() != 0 }

// ErrMalformed marks a request or verdict that does not have its kind's shape.
var ErrMalformed = errors.New("malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// parseObject parses data and insists on a JSON object.
func parseObject(data []byte, what string) (wire.Value, error) {
	v, err := wire.Parse(data)
	if err != nil {
		return v, fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	if v.Kind != wire.Object {
		return v, malformed("%s: want a JSON object, got %s", what, v.Kind)
	}
	return v, nil
}

// fields reads an object's members into typed destinations; a member of the wrong type is an
// error naming it, an unknown member is ignored (forward compatibility within one ABI version).
type fields struct {
	what string
	err  error
}

func (f *fields) str(v wire.Value, name string, dst *string) {
	if f.err != nil || v.Kind == wire.Invalid || v.Kind == wire.Null {
		return
	}
	s, ok := v.Str()
	if !ok {
		f.err = malformed("%s: %q must be a string, got %s", f.what, name, v.Kind)
		return
	}
	*dst = s
}

func (f *fields) boolean(v wire.Value, name string, dst *bool) {
	if f.err != nil || v.Kind == wire.Invalid || v.Kind == wire.Null {
		return
	}
	b, ok := v.Bool()
	if !ok {
		f.err = malformed("%s: %q must be a boolean, got %s", f.what, name, v.Kind)
		return
	}
	*dst = b
}

func (f *fields) integer(v wire.Value, name string, dst *int64) {
	if f.err != nil || v.Kind == wire.Invalid || v.Kind == wire.Null {
		return
	}
	n, ok := v.Int()
	if !ok {
		f.err = malformed("%s: %q must be an integer, got %s", f.what, name, v.Kind)
		return
	}
	*dst = n
}

func (f *fields) object(v wire.Value, name string, dst *[]byte) {
	if f.err != nil || v.Kind == wire.Invalid || v.Kind == wire.Null {
		return
	}
	if v.Kind != wire.Object {
		f.err = malformed("%s: %q must be an object, got %s", f.what, name, v.Kind)
		return
	}
	*dst = v.Raw
}
