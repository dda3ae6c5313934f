// Package sdk turns a Go policy function into a policy plugin: it implements the guest side of
// the ABI (plugins/ABI.md) so a plugin's main package is one registration call in init().
//
//	func init() { sdk.HandleMount(mountguard.New(facts{}).Decide) }
//
// Register handlers in init, not main: a plugin is a wasip1 reactor, whose _initialize runs
// package initialisers and never calls main. Host functions live in sdk/hostcall, one plain
// function per capability, so a module imports exactly the host functions it calls and its
// manifest can ask for exactly those.
package sdk

import (
	"fmt"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// BufferSize is the size of the mailbox this SDK exports: the largest request or verdict a
// Go plugin can exchange.
const BufferSize = 64 << 10

// RawFunc answers one call with the request bytes; it appends its verdict to out.
type RawFunc func(in, out []byte) ([]byte, error)

// The handlers this module registered: one slot per hook. A wasm module is single-threaded
// and registration happens once in init, so a package variable is the natural home.
var handlers [4]RawFunc

// HandleRaw registers fn for hook. Most plugins use HandleMount, HandleIPC or HandleRoute;
// this is for guests that speak the wire format themselves (tests, other encodings).
func HandleRaw(hook abi.Hook, fn RawFunc) {
	if int(hook) >= len(handlers) || hook == 0 {
		panic(fmt.Sprintf("sdk: unknown hook %d", hook))
	}
	handlers[hook] = fn
}

// HandleMount registers the mount decision. The request's strings alias the mailbox: they
// are valid during the call only, so copy one (strings.Clone) to keep it.
func HandleMount(fn func(*protocol.MountRequest) protocol.MountVerdict) {
	HandleRaw(abi.HookMount, func(in, out []byte) ([]byte, error) {
		var req protocol.MountRequest
		if err := req.DecodeAliased(in); err != nil {
			return out, err
		}
		v := fn(&req)
		return v.AppendJSON(out), nil
	})
}

// HandleIPC registers the IPC authorization decision.
func HandleIPC(fn func(*protocol.IPCRequest) protocol.IPCVerdict) {
	HandleRaw(abi.HookIPC, func(in, out []byte) ([]byte, error) {
		var req protocol.IPCRequest
		if err := req.DecodeAliased(in); err != nil {
			return out, err
		}
		v := fn(&req)
		return v.AppendJSON(out), nil
	})
}

// HandleRoute registers the routing decision.
func HandleRoute(fn func(*protocol.RouteRequest) protocol.RouteVerdict) {
	HandleRaw(abi.HookRoute, func(in, out []byte) ([]byte, error) {
		var req protocol.RouteRequest
		if err := req.DecodeAliased(in); err != nil {
			return out, err
		}
		v := fn(&req)
		return v.AppendJSON(out), nil
	})
}

// Dispatch runs one policy_call: it finds the handler, recovers a panic into an error status
// (so a bug in policy code is a clean "plugin error", not a dead instance), and reports the
// status and the reply. It is portable so the SDK can be tested natively.
func Dispatch(hook abi.Hook, in, scratch []byte) (status abi.Status, reply []byte) {
	defer func() {
		if r := recover(); r != nil {
			status, reply = abi.StatusError, fmt.Appendf(scratch[:0], "plugin panic: %v", r)
		}
	}()
	if int(hook) >= len(handlers) || handlers[hook] == nil {
		return abi.StatusError, fmt.Appendf(scratch[:0], "plugin does not handle hook %d", hook)
	}
	out, err := handlers[hook](in, scratch[:0])
	if err != nil {
		return abi.StatusError, append(scratch[:0], err.Error()...)
	}
	return abi.StatusOK, out
}
