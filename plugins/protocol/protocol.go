// Package protocol defines the requests and verdicts of the three policy kinds as they travel
// through the ABI mailbox, with their JSON encoding. The host and every Go guest import this
// one package, so the two ends of a decision cannot drift apart; plugins/ABI.md documents the
// same shapes for guests in other languages.
//
// Every type has UnmarshalJSON, which copies what it keeps (the usual contract), and
// DecodeAliased, whose strings alias the input: the SDK uses it on the mailbox so decoding a
// request allocates nothing.
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

// newDecoder starts decoding data; alias selects strings that alias data over copies.
func newDecoder(data []byte, alias bool) wire.Decoder {
	dc := wire.NewDecoder(data)
	dc.Copy = !alias
	return dc
}

// finish checks the end of the document and names what was being decoded in an error.
// (Each type calls its own decode method directly: passing the decoder through an interface
// would move it to the heap, one allocation per decision inside the guest.)
func finish(dc *wire.Decoder, what string) error {
	if err := dc.End(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return nil
}

// fields runs fn for every member of the object at dc's position. The key stays a byte slice
// so that switching on it (switch string(key)) does not allocate.
func fields(dc *wire.Decoder, fn func(key []byte)) {
	if !dc.Object() {
		return
	}
	for {
		k, ok := dc.NextField()
		if !ok {
			return
		}
		fn(k)
	}
}

// verdictFields reads the members of a verdict object as strictly as the host reads an
// agent's request: key(name) maps each (unescaped) key to a field index, and a key that
// appears twice is an error, because readers disagree on which copy counts
// ({"allow":false,"allow":true} must not be an allow to anyone). With strict, a key that
// key does not know is an error too: a security verdict carrying a field this host does not
// understand may mean something the host would not enforce. Without strict, unknown keys
// are skipped. The first problem is kept in *bad; the rest of the object is skipped.
func verdictFields(dc *wire.Decoder, what string, key func(name []byte) int, strict bool, bad *error, fn func(i int)) {
	var seen uint64
	fields(dc, func(raw []byte) {
		if *bad != nil {
			dc.Skip()
			return
		}
		name := wire.UnescapeKey(raw)
		i := key(name)
		switch {
		case i < 0 && strict:
			*bad = malformed("%s: unknown field %q", what, name)
		case i < 0:
		case seen&(1<<i) != 0:
			*bad = malformed("%s: repeats the key %q", what, name)
		default:
			seen |= 1 << i
			fn(i)
			return
		}
		dc.Skip()
	})
}
