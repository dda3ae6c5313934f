package sdk

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// register installs fn for hook and restores the previous handler when the test ends, since
// handlers is package state shared by every test here (none of them run in parallel).
func register(t *testing.T, hook abi.Hook, install func()) {
	t.Helper()
	prev := handlers[hook]
	t.Cleanup(func() { handlers[hook] = prev })
	install()
}

// clearHandlers removes every handler for the duration of the test.
func clearHandlers(t *testing.T) {
	prev := handlers
	t.Cleanup(func() { handlers = prev })
	handlers = [len(handlers)]RawFunc{}
}

// TestDispatchNoHandler: a hook the module does not handle, or no hook at all, is an error
// status with a message, never a panic or an empty OK.
func TestDispatchNoHandler(t *testing.T) {
	clearHandlers(t)
	cases := []struct {
		hook abi.Hook
		want string
	}{
		{abi.HookMount, "does not handle hook 1"},
		{abi.HookIPC, "does not handle hook 2"},
		{abi.HookRoute, "does not handle hook 3"},
		{0, "does not handle hook 0"},
		{4, "does not handle hook 4"},
		{1 << 31, "does not handle hook 2147483648"},
	}
	for _, c := range cases {
		status, reply := Dispatch(c.hook, []byte(`{}`), make([]byte, 0, 64))
		if status != abi.StatusError || !strings.Contains(string(reply), c.want) {
			t.Errorf("Dispatch(%d) = %d, %q; want StatusError mentioning %q", c.hook, status, reply, c.want)
		}
	}
}

// TestHandleRawUnknownHook: registering for a hook that does not exist is a programming
// error caught at init.
func TestHandleRawUnknownHook(t *testing.T) {
	for _, hook := range []abi.Hook{0, 4, 100} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "unknown hook") {
					t.Errorf("HandleRaw(%d) recovered %v, want an unknown hook panic", hook, r)
				}
			}()
			HandleRaw(hook, func(in, out []byte) ([]byte, error) { return out, nil })
		}()
	}
}

// TestDispatchRaw covers what a raw handler returns: OK with its bytes, an error status with
// the error's text, and a recovered panic with "plugin panic" and the panic value.
func TestDispatchRaw(t *testing.T) {
	cases := []struct {
		name       string
		fn         RawFunc
		wantStatus abi.Status
		want       string
	}{
		{"ok", func(in, out []byte) ([]byte, error) { return append(out, in...), nil }, abi.StatusOK, "ping"},
		{"error", func(in, out []byte) ([]byte, error) { return append(out, "partial"...), errors.New("no config") },
			abi.StatusError, "no config"},
		{"panic string", func(in, out []byte) ([]byte, error) { panic("boom") }, abi.StatusError, "plugin panic: boom"},
		{"panic error", func(in, out []byte) ([]byte, error) { panic(errors.New("bad state")) }, abi.StatusError, "plugin panic: bad state"},
		{"nil map write", func(in, out []byte) ([]byte, error) {
			var m map[string]int
			m["x"] = 1
			return out, nil
		}, abi.StatusError, "plugin panic: assignment to entry in nil map"},
		{"index out of range", func(in, out []byte) ([]byte, error) { return out, errors.New(string(in[10:])) },
			abi.StatusError, "plugin panic: runtime error: slice bounds out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			register(t, abi.HookIPC, func() { HandleRaw(abi.HookIPC, c.fn) })
			status, reply := Dispatch(abi.HookIPC, []byte("ping"), make([]byte, 0, 64))
			if status != c.wantStatus {
				t.Fatalf("status = %d, want %d (reply %q)", status, c.wantStatus, reply)
			}
			if c.wantStatus == abi.StatusOK && string(reply) != c.want {
				t.Fatalf("reply = %q, want %q", reply, c.want)
			}
			if c.wantStatus != abi.StatusOK && !strings.HasPrefix(string(reply), c.want) {
				t.Fatalf("reply = %q, want it to start with %q", reply, c.want)
			}
		})
	}
}

// TestDispatchReplyInScratch: the reply is built in the scratch buffer when it fits, so the
// guest's policy_call copies it without allocating.
func TestDispatchReplyInScratch(t *testing.T) {
	register(t, abi.HookMount, func() {
		HandleMount(func(r *protocol.MountRequest) protocol.MountVerdict { return protocol.MountVerdict{ReadOnly: true} })
	})
	scratch := make([]byte, 0, 1024)
	status, reply := Dispatch(abi.HookMount, []byte(`{"group":"g","hostPath":"/h"}`), scratch)
	if status != abi.StatusOK || len(reply) == 0 || &reply[0] != &scratch[:1][0] {
		t.Fatalf("Dispatch = %d, %q; want OK with the reply in scratch", status, reply)
	}
}

// TestHandleMount: a valid request reaches the handler with every field (strings aliasing
// the mailbox, as documented) and its verdict comes back as JSON the host decodes; a
// malformed request is an error status and the handler never runs.
func TestHandleMount(t *testing.T) {
	var got protocol.MountRequest
	var aliased bool
	calls := 0
	in := []byte(`{"group":"family","isMain":true,"hostPath":"~/projects/x","containerPath":"x","readonly":false}`)
	register(t, abi.HookMount, func() {
		HandleMount(func(r *protocol.MountRequest) protocol.MountVerdict {
			calls++
			got = *r
			aliased = within(r.HostPath, in)
			return protocol.MountVerdict{Allow: true, ReadOnly: r.ReadOnly, HostPath: "/home/me/projects/x",
				ContainerPath: "/workspace/extra/" + r.ContainerPath, Reason: "under \"projects\""}
		})
	})
	status, reply := Dispatch(abi.HookMount, in, nil)
	if status != abi.StatusOK {
		t.Fatalf("status = %d, reply %q", status, reply)
	}
	want := protocol.MountRequest{Group: "family", IsMain: true, HostPath: "~/projects/x", ContainerPath: "x"}
	if got != want {
		t.Fatalf("handler saw %+v, want %+v", got, want)
	}
	if !aliased {
		t.Error("request strings were copied; HandleMount documents that they alias the mailbox")
	}
	var v protocol.MountVerdict
	if err := v.UnmarshalJSON(reply); err != nil {
		t.Fatalf("verdict %q does not decode: %v", reply, err)
	}
	wantV := protocol.MountVerdict{Allow: true, HostPath: "/home/me/projects/x", ContainerPath: "/workspace/extra/x", Reason: `under "projects"`}
	if v != wantV {
		t.Fatalf("verdict = %+v, want %+v", v, wantV)
	}

	for _, bad := range []string{``, `[]`, `{"group":1}`, `{"readonly":"no"}`, `{"group":"g"} trailing`, "{\"group\":\"\xff\"}"} {
		calls = 0
		status, reply := Dispatch(abi.HookMount, []byte(bad), nil)
		if status != abi.StatusError || !strings.Contains(string(reply), "malformed") || calls != 0 {
			t.Errorf("Dispatch(%q) = %d, %q, handler called %d times; want StatusError, malformed, 0", bad, status, reply, calls)
		}
	}
}

// TestHandleIPC: the raw agent request reaches the handler untouched and the verdict decodes.
func TestHandleIPC(t *testing.T) {
	var raw string
	register(t, abi.HookIPC, func() {
		HandleIPC(func(r *protocol.IPCRequest) protocol.IPCVerdict {
			raw = string(r.Request)
			return protocol.IPCVerdict{Allow: r.Group == r.TaskGroup, Reason: "own task"}
		})
	})
	status, reply := Dispatch(abi.HookIPC, []byte(`{"group":"family","isMain":false,"dir":"tasks","taskGroup":"family","request":{"type":"pause_task"}}`), nil)
	if status != abi.StatusOK {
		t.Fatalf("status = %d, reply %q", status, reply)
	}
	if raw != `{"type":"pause_task"}` {
		t.Errorf("handler saw request %q", raw)
	}
	var v protocol.IPCVerdict
	if err := v.UnmarshalJSON(reply); err != nil || v != (protocol.IPCVerdict{Allow: true, Reason: "own task"}) {
		t.Fatalf("verdict %q = %+v, %v", reply, v, err)
	}
	if status, _ := Dispatch(abi.HookIPC, []byte(`{"isMain":"no"}`), nil); status != abi.StatusError {
		t.Fatalf("malformed ipc request: status %d", status)
	}
}

// TestHandleRoute: the group (or its absence) reaches the handler and the verdict decodes.
func TestHandleRoute(t *testing.T) {
	register(t, abi.HookRoute, func() {
		HandleRoute(func(r *protocol.RouteRequest) protocol.RouteVerdict {
			if r.Group == nil {
				return protocol.RouteVerdict{Action: protocol.ActionIgnore, Reason: "unregistered"}
			}
			if strings.HasPrefix(r.Message.Content, r.Group.Trigger) {
				return protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: r.Group.Folder}
			}
			return protocol.RouteVerdict{Action: protocol.ActionStore}
		})
	})
	cases := []struct {
		req  string
		want protocol.RouteVerdict
	}{
		{`{"message":{"content":"@Andy hi"},"group":{"folder":"family","trigger":"@Andy"},"assistantName":"Andy"}`,
			protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "family"}},
		{`{"message":{"content":"hi"},"group":{"folder":"family","trigger":"@Andy"},"assistantName":"Andy"}`,
			protocol.RouteVerdict{Action: protocol.ActionStore}},
		{`{"message":{"content":"hi"},"group":null,"assistantName":"Andy"}`,
			protocol.RouteVerdict{Action: protocol.ActionIgnore, Reason: "unregistered"}},
	}
	for _, c := range cases {
		status, reply := Dispatch(abi.HookRoute, []byte(c.req), make([]byte, 0, 256))
		var v protocol.RouteVerdict
		if status != abi.StatusOK {
			t.Fatalf("status = %d, reply %q", status, reply)
		}
		if err := v.UnmarshalJSON(reply); err != nil || v != c.want {
			t.Errorf("%s: verdict %q = %+v, %v; want %+v", c.req, reply, v, err, c.want)
		}
	}
	if status, _ := Dispatch(abi.HookRoute, []byte(`{"message":null}`), nil); status != abi.StatusError {
		t.Fatalf("malformed route request: status %d", status)
	}
}

// TestHandlerPanicAfterDecode: a typed handler that panics is still a clean error status.
func TestHandlerPanicAfterDecode(t *testing.T) {
	register(t, abi.HookRoute, func() {
		HandleRoute(func(r *protocol.RouteRequest) protocol.RouteVerdict {
			return protocol.RouteVerdict{Group: r.Group.Folder} // nil Group for an unregistered chat
		})
	})
	status, reply := Dispatch(abi.HookRoute, []byte(`{"message":{},"group":null}`), nil)
	if status != abi.StatusError || !strings.Contains(string(reply), "plugin panic") {
		t.Fatalf("Dispatch = %d, %q; want StatusError with plugin panic", status, reply)
	}
}

// within reports whether s's bytes lie inside data.
func within(s string, data []byte) bool {
	if s == "" || len(data) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	base := uintptr(unsafe.Pointer(&data[0]))
	return p >= base && p < base+uintptr(len(data))
}
