package ipc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// world is a host with two registered groups, main and family, deciding with the default
// ipc policy natively (the plugin's own code).
type world struct {
	mu        sync.Mutex
	performed []Request
	refused   []store.IPCRefusal
	failWith  error
}

var groups = map[string]protocol.Group{
	"main@g.us":   {JID: "main@g.us", Folder: "main", IsMain: true},
	"family@g.us": {JID: "family@g.us", Folder: "family"},
}

func (w *world) LookupGroup(jid string) (protocol.Group, bool) { g, ok := groups[jid]; return g, ok }

func (w *world) Group(_ context.Context, folder string) (bool, bool) {
	for _, g := range groups {
		if g.Folder == folder {
			return true, g.IsMain
		}
	}
	return false, false
}

func (w *world) TaskGroup(_ context.Context, id string) string {
	if id == "task-family" {
		return "family"
	}
	return ""
}

func (w *world) DecideIPC(_ context.Context, req *protocol.IPCRequest) plugin.IPCDecision {
	return plugin.IPCDecision{IPCVerdict: ipcpolicy.New(w).Decide(req), DecidedBy: "ipcauthz"}
}

func (w *world) Perform(_ context.Context, r Request) (any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failWith != nil {
		return nil, w.failWith
	}
	w.performed = append(w.performed, r)
	return map[string]string{"done": r.Op.Type}, nil
}

func (w *world) RecordIPCRefusal(_ context.Context, r store.IPCRefusal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refused = append(w.refused, r)
	return nil
}

func newService(w *world, outcomes *[]Outcome) *Service {
	return NewService(Config{Authorizer: w, Facts: w, Performer: w, Refusals: w, OnOutcome: func(o Outcome) { *outcomes = append(*outcomes, o) }})
}

// TestHandle: each request is performed or refused as the policy says, the answer carries
// the result or the reason, and every refusal is kept with its request.
func TestHandle(t *testing.T) {
	big := `{"type":"message","chatJid":"family@g.us","text":"` + strings.Repeat("a", 1<<16) + `"}`
	tests := []struct {
		name, folder, body string
		performed          bool
		code, reason       string // code and a substring of the refusal
	}{
		{"own chat", "family", `{"type":"message","chatJid":"family@g.us","text":"hi"}`, true, "", ""},
		{"main to any chat", "main", `{"type":"message","chatJid":"stranger@s.whatsapp.net","text":"hi"}`, true, "", ""},
		{"identity fields are ignored", "family", `{"type":"message","chatJid":"main@g.us","text":"hi","groupFolder":"main","isMain":true}`, false, runproto.CodeRefused, "denied by ipcauthz"},
		{"non-main to another chat", "family", `{"type":"message","chatJid":"main@g.us","text":"hi"}`, false, runproto.CodeRefused, "denied by ipcauthz"},
		{"not JSON", "family", `{"type":`, false, runproto.CodeMalformed, "invalid JSON"},
		{"duplicate key", "family", `{"type":"message","chatJid":"family@g.us","chatJid":"main@g.us","text":"x"}`, false, runproto.CodeMalformed, "appears twice"},
		{"large but allowed", "family", big, true, "", ""},
		{"own task", "family", `{"type":"pause_task","taskId":"task-family"}`, true, "", ""},
		{"another group's task", "family", `{"type":"cancel_task","taskId":"task-other"}`, false, runproto.CodeRefused, "no such task"},
		{"register by non-main", "family", `{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy"}`, false, runproto.CodeRefused, "only the main group"},
		{"register by main", "main", `{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy","requiresTrigger":false}`, true, "", ""},
		{"wrong type for a field", "main", `{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy","requiresTrigger":"no"}`, false, runproto.CodeMalformed, "must be a boolean"},
		{"unregistered socket", "ghost", `{"type":"message","chatJid":"family@g.us","text":"x"}`, false, runproto.CodeRefused, "no registered group"},
		{"list tasks", "family", `{"type":"list_tasks"}`, true, "", ""},
	}
	w := &world{}
	var outcomes []Outcome
	s := newService(w, &outcomes)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.refused)
			resp := s.Handle(context.Background(), tc.folder, []byte(tc.body))
			if resp.OK != tc.performed || resp.Code != tc.code || !strings.Contains(resp.Error, tc.reason) {
				t.Fatalf("answer %+v, want performed=%v code=%q reason ~%q", resp, tc.performed, tc.code, tc.reason)
			}
			o := outcomes[len(outcomes)-1]
			if o.Performed != tc.performed || o.Group != tc.folder {
				t.Fatalf("outcome %+v", o)
			}
			if tc.performed {
				if resp.Result == nil || len(w.refused) != before {
					t.Fatalf("performed without a result, or recorded as refused: %+v", resp)
				}
				return
			}
			if len(w.refused) != before+1 {
				t.Fatalf("refusal not kept")
			}
			r := w.refused[len(w.refused)-1]
			if r.Group != tc.folder || r.Code != tc.code || r.Reason != resp.Error || r.Request != tc.body {
				t.Fatalf("kept %+v", r)
			}
		})
	}
	if len(w.performed) != 6 {
		t.Errorf("performed %d requests: %+v", len(w.performed), w.performed)
	}
}

// TestHandlePerformFailure: an allowed request the host cannot perform is answered
// "failed" with the reason, and kept.
func TestHandlePerformFailure(t *testing.T) {
	w := &world{failWith: errors.New("no channel owns the chat")}
	var outcomes []Outcome
	resp := newService(w, &outcomes).Handle(context.Background(), "family", []byte(`{"type":"message","chatJid":"family@g.us","text":"hi"}`))
	if resp.OK || resp.Code != runproto.CodeFailed || !strings.Contains(resp.Error, "no channel owns the chat") || len(w.refused) != 1 {
		t.Fatalf("answer %+v, kept %d", resp, len(w.refused))
	}
}

// FuzzHandle: no body panics the service, and nothing the native policy denies is
// performed.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{`{"type":"message","chatJid":"family@g.us","text":"x"}`, `{"type":"message","chatJid":"main@g.us","text":"x"}`,
		`{"type":"pause_task","taskId":"task-family"}`, `{"type":"register_group","jid":"j","name":"n","folder":"f","trigger":"@A"}`, `{"type":"a","type":"b"}`} {
		f.Add("family", []byte(s))
		f.Add("main", []byte(s))
	}
	f.Fuzz(func(t *testing.T, group string, body []byte) {
		w := &world{}
		var outcomes []Outcome
		resp := newService(w, &outcomes).Handle(context.Background(), group, body)
		registered, isMain := w.Group(context.Background(), group)
		if resp.OK {
			if !registered {
				t.Fatalf("performed for an unregistered socket %q", group)
			}
			v := ipcpolicy.New(w).Decide(&protocol.IPCRequest{Group: group, IsMain: isMain, Dir: DirFor(w.performed[0].Op.Type), Request: body,
				TaskGroup: w.TaskGroup(context.Background(), w.performed[0].Op.TaskID)})
			if !v.Allow {
				t.Fatalf("performed what the policy denies: %q", body)
			}
		} else if len(w.performed) != 0 || resp.Code == "" || resp.Error == "" {
			t.Fatalf("refused without a code and reason, or performed anyway: %+v", resp)
		}
	})
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
		check      func(Op) bool
	}{
		{"message", `{"type":"message","chatJid":"a","text":"b","sender":"c"}`, true, func(o Op) bool { return o.ChatJID == "a" && o.Text == "b" && o.Sender == "c" }},
		{"interval as number", `{"type":"schedule_task","schedule_type":"interval","schedule_value":60000}`, true, func(o Op) bool { return o.ScheduleValue == "60000" }},
		{"script cleared", `{"type":"update_task","taskId":"t","script":""}`, true, func(o Op) bool { return o.Script != nil && *o.Script == "" && !o.HasPrompt }},
		{"script absent", `{"type":"update_task","taskId":"t","prompt":"p"}`, true, func(o Op) bool { return o.Script == nil && o.HasPrompt }},
		{"register", `{"type":"register_group","jid":"j","name":"n","folder":"f","trigger":"@A","requiresTrigger":false,"containerConfig":{"timeout":5}}`, true,
			func(o Op) bool {
				return o.RequiresTrigger != nil && !*o.RequiresTrigger && string(o.ContainerConfig) == `{"timeout":5}`
			}},
		{"no type", `{"text":"x"}`, false, nil},
		{"array", `[1]`, false, nil},
		{"duplicate", `{"type":"a","type":"b"}`, false, nil},
		{"number for string", `{"type":"message","text":5}`, false, nil},
		{"string for bool", `{"type":"register_group","requiresTrigger":"yes"}`, false, nil},
		{"invalid utf-8", "{\"type\":\"\xff\"}", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, err := Decode([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if tc.check != nil && !tc.check(op) {
				t.Errorf("decoded %+v", op)
			}
		})
	}
}

// FuzzDecode: no input panics, and what decodes is an object with a type that the policy
// parser reads the same way (no duplicate keys).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"message","chatJid":"a@g.us","text":"x"}`, `{"type":"schedule_task","schedule_value":5}`, `{"type":"a","type":"b"}`, `[]`, `{"type":"register_group","containerConfig":{"a":[1,{"b":null}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := Decode(b)
		if err != nil {
			return
		}
		if op.Type == "" {
			t.Fatalf("decoded without a type: %q", b)
		}
	})
}
