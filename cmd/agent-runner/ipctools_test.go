package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// fakeHost plays the host's side of IPC: it records every request and answers from a
// script keyed by request type (default: done, with no result).
type fakeHost struct {
	reqs    []map[string]any
	answers map[string]func(req map[string]any) (json.RawMessage, error)
}

func (f *fakeHost) ipc(_ context.Context, req map[string]any) (json.RawMessage, error) {
	f.reqs = append(f.reqs, req)
	if a := f.answers[req["type"].(string)]; a != nil {
		return a(req)
	}
	return json.RawMessage("null"), nil
}

// only returns the single request made since the last call, and forgets it.
func (f *fakeHost) only(t *testing.T) map[string]any {
	t.Helper()
	if len(f.reqs) != 1 {
		t.Fatalf("requests %v, want one", f.reqs)
	}
	r := f.reqs[0]
	f.reqs = nil
	return r
}

func toolsFor(t *testing.T, isMain bool) (map[string]anthropic.BetaTool, *fakeHost) {
	t.Helper()
	host := &fakeHost{answers: map[string]func(map[string]any) (json.RawMessage, error){
		"schedule_task": func(map[string]any) (json.RawMessage, error) {
			return json.RawMessage(`{"taskId":"task-1-abcdef","nextRun":"2030-01-01T09:00:00.000Z"}`), nil
		},
	}}
	ts, err := ipcTools(&ipcContext{host: host, chatJID: "own@g.us", groupFolder: "whatsapp_fam", isMain: isMain, loc: time.UTC, now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]anthropic.BetaTool{}
	for _, x := range ts {
		m[x.Name()] = x
	}
	return m, host
}

func call(t *testing.T, tool anthropic.BetaTool, input string) (string, error) {
	t.Helper()
	res, err := tool.Execute(context.Background(), json.RawMessage(input))
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, r := range res {
		if r.OfText != nil {
			sb.WriteString(r.OfText.Text)
		}
	}
	return sb.String(), nil
}

func TestScheduleTaskValidation(t *testing.T) {
	tools, host := toolsFor(t, false)
	st := tools["schedule_task"]
	bad := map[string]string{
		`{"prompt":"p","schedule_type":"cron","schedule_value":"61 * * * *"}`:                   "Invalid cron",
		`{"prompt":"p","schedule_type":"interval","schedule_value":"-5"}`:                       "Invalid interval",
		`{"prompt":"p","schedule_type":"interval","schedule_value":"abc"}`:                      "Invalid interval",
		`{"prompt":"p","schedule_type":"once","schedule_value":"2026-02-01T15:30:00Z"}`:         "without timezone suffix",
		`{"prompt":"p","schedule_type":"once","schedule_value":"2026-02-01T15:30:00+02:00"}`:    "without timezone suffix",
		`{"prompt":"p","schedule_type":"once","schedule_value":"tomorrow"}`:                     "Invalid timestamp",
		`{"prompt":"p","schedule_type":"weekly","schedule_value":"x"}`:                          "Invalid schedule_type",
		`{"prompt":"p","schedule_type":"cron","schedule_value":"* * * * *","context_mode":"x"}`: "Invalid context_mode",
	}
	for in, want := range bad {
		if _, err := call(t, st, in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
	if len(host.reqs) != 0 {
		t.Fatalf("invalid calls reached the host: %v", host.reqs)
	}

	out, err := call(t, st, `{"prompt":"water plants","schedule_type":"cron","schedule_value":"0 9 * * *","target_group_jid":"other@g.us","script":"echo"}`)
	if err != nil || out != "Task task-1-abcdef scheduled: cron - 0 9 * * *" {
		t.Fatalf("%q %v", out, err)
	}
	m := host.only(t)
	want := map[string]any{"type": "schedule_task", "prompt": "water plants", "schedule_type": "cron", "schedule_value": "0 9 * * *",
		"context_mode": "group", "targetJid": "own@g.us", "createdBy": "whatsapp_fam", "script": "echo"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("[%s] = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["taskId"]; ok {
		t.Errorf("the runner chose a task id %v; the host assigns them", m["taskId"])
	}

	// Main may target another group.
	mtools, mhost := toolsFor(t, true)
	if _, err := call(t, mtools["schedule_task"], `{"prompt":"p","schedule_type":"once","schedule_value":"2030-01-01T10:00:00","context_mode":"isolated","target_group_jid":"other@g.us"}`); err != nil {
		t.Fatal(err)
	}
	m = mhost.only(t)
	if m["targetJid"] != "other@g.us" || m["context_mode"] != "isolated" {
		t.Errorf("main schedule %v", m)
	}
}

func TestTaskOpsAndRegister(t *testing.T) {
	tools, host := toolsFor(t, false)
	for name, want := range map[string]string{"pause_task": "Task t1 paused.", "resume_task": "Task t1 resumed.", "cancel_task": "Task t1 cancelled."} {
		out, err := call(t, tools[name], `{"task_id":"t1"}`)
		if err != nil || out != want {
			t.Errorf("%s: %q %v", name, out, err)
		}
		m := host.only(t)
		if m["type"] != name || m["taskId"] != "t1" {
			t.Errorf("%s file %v", name, m)
		}
	}
	if _, err := call(t, tools["update_task"], `{"task_id":"t1","schedule_value":"bad cron"}`); err == nil || !strings.Contains(err.Error(), "Invalid cron") {
		t.Errorf("update bad cron: %v", err)
	}
	if _, err := call(t, tools["update_task"], `{"task_id":"t1","schedule_type":"interval","schedule_value":"0"}`); err == nil || !strings.Contains(err.Error(), "Invalid interval") {
		t.Errorf("update bad interval: %v", err)
	}
	out, err := call(t, tools["update_task"], `{"task_id":"t1","prompt":"new","script":""}`)
	if err != nil || out != "Task t1 updated." {
		t.Fatalf("%q %v", out, err)
	}
	m := host.only(t)
	if m["prompt"] != "new" || m["script"] != "" || m["schedule_type"] != nil {
		t.Errorf("update file %v", m)
	}

	reg := `{"jid":"9@g.us","name":"Family","folder":"whatsapp_family","trigger":"@Andy"}`
	if _, err := call(t, tools["register_group"], reg); err == nil || !strings.Contains(err.Error(), "Only the main group can register new groups.") {
		t.Errorf("non-main register: %v", err)
	}
	mtools, mhost := toolsFor(t, true)
	out, err = call(t, mtools["register_group"], reg)
	if err != nil || !strings.Contains(out, "Family") {
		t.Fatalf("%q %v", out, err)
	}
	m = mhost.only(t)
	if m["type"] != "register_group" || m["jid"] != "9@g.us" || m["folder"] != "whatsapp_family" || m["trigger"] != "@Andy" || m["requiresTrigger"] != false {
		t.Errorf("register file %v", m)
	}
}

func TestListTasks(t *testing.T) {
	list := `{"tasks":[{"id":"a","groupFolder":"whatsapp_fam","prompt":"` + strings.Repeat("x", 60) + `","schedule_type":"cron","schedule_value":"0 9 * * *","status":"active","next_run":"2030-01-01T09:00:00.000Z"},
	{"id":"b","groupFolder":"other","prompt":"theirs","schedule_type":"interval","schedule_value":"1000","status":"paused","next_run":null}]}`
	tools, host := toolsFor(t, true)
	host.answers["list_tasks"] = func(map[string]any) (json.RawMessage, error) { return json.RawMessage(`{"tasks":[]}`), nil }
	if out, _ := call(t, tools["list_tasks"], `{}`); out != "No scheduled tasks found." {
		t.Errorf("no tasks: %q", out)
	}
	host.answers["list_tasks"] = func(map[string]any) (json.RawMessage, error) { return json.RawMessage(list), nil }
	out, err := call(t, tools["list_tasks"], `{}`)
	if err != nil {
		t.Fatal(err)
	}
	wantA := "- [a] " + strings.Repeat("x", 50) + "... (cron: 0 9 * * *) - active, next: 2030-01-01T09:00:00.000Z"
	wantB := "- [b] theirs... (interval: 1000) - paused, next: N/A"
	if !strings.HasPrefix(out, "Scheduled tasks:\n") || !strings.Contains(out, wantA) || !strings.Contains(out, wantB) {
		t.Errorf("%q", out)
	}
}

// TestRefusalReachesTheModel: a request the host refuses is a tool error carrying the
// host's reason, so the model knows it did not happen and why.
func TestRefusalReachesTheModel(t *testing.T) {
	tools, host := toolsFor(t, false)
	host.answers["message"] = func(map[string]any) (json.RawMessage, error) {
		return nil, errRefused{runproto.IPCResponse{Code: runproto.CodeRefused, Error: "denied by ipcauthz: a non-main group may only message its own chat"}}
	}
	_, err := call(t, tools["send_message"], `{"text":"hi"}`)
	if err == nil || !strings.Contains(err.Error(), "denied by ipcauthz: a non-main group may only message its own chat") {
		t.Fatalf("err %v", err)
	}
}

// TestListGroups: main lists the chats it may register (refreshing first if asked); other
// groups do not get the tool.
func TestListGroups(t *testing.T) {
	tools, _ := toolsFor(t, false)
	if _, ok := tools["list_groups"]; ok {
		t.Fatal("a non-main group has list_groups")
	}
	mtools, host := toolsFor(t, true)
	host.answers["available_groups"] = func(map[string]any) (json.RawMessage, error) {
		return json.RawMessage(`{"groups":[{"jid":"9@g.us","name":"Family","lastActivity":"2026-01-01","isRegistered":true}],"lastSync":"2026-01-02"}`), nil
	}
	out, err := call(t, mtools["list_groups"], `{"refresh":true}`)
	if err != nil || !strings.Contains(out, "- 9@g.us: Family, last active 2026-01-01 (registered)") {
		t.Fatalf("%q %v", out, err)
	}
	if len(host.reqs) != 2 || host.reqs[0]["type"] != "refresh_groups" || host.reqs[1]["type"] != "available_groups" {
		t.Fatalf("requests %v", host.reqs)
	}
}

func TestAppendUserTextRepairsDanglingToolUse(t *testing.T) {
	msgs := []anthropic.BetaMessageParam{
		anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock("hi")),
		{Role: anthropic.BetaMessageParamRoleAssistant, Content: []anthropic.BetaContentBlockParamUnion{anthropic.NewBetaToolUseBlock("tu1", map[string]any{}, "bash")}},
	}
	out := appendUserText(msgs, "next")
	if len(out) != 3 || len(out[2].Content) != 2 || out[2].Content[0].OfToolResult == nil || out[2].Content[0].OfToolResult.ToolUseID != "tu1" {
		b, _ := json.Marshal(out)
		t.Fatalf("%s", b)
	}
	// A trailing user turn absorbs the text.
	out = appendUserText(out, "more")
	if len(out) != 3 || len(out[2].Content) != 3 {
		t.Fatalf("len %d", len(out))
	}
}
