package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
)

func toolsFor(t *testing.T, isMain bool) (map[string]anthropic.BetaTool, string) {
	t.Helper()
	dir := t.TempDir()
	ts, err := ipcTools(&ipcContext{dir: dir, chatJID: "own@g.us", groupFolder: "whatsapp_fam", isMain: isMain, loc: time.UTC, now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]anthropic.BetaTool{}
	for _, x := range ts {
		m[x.Name()] = x
	}
	return m, dir
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

func onlyFile(t *testing.T, dir string) map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("files in %s: %v", dir, files)
	}
	b, _ := os.ReadFile(files[0])
	os.Remove(files[0])
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestScheduleTaskValidation(t *testing.T) {
	tools, dir := toolsFor(t, false)
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
	if f, _ := filepath.Glob(filepath.Join(dir, "tasks", "*")); len(f) != 0 {
		t.Fatalf("invalid calls wrote %v", f)
	}

	out, err := call(t, st, `{"prompt":"water plants","schedule_type":"cron","schedule_value":"0 9 * * *","target_group_jid":"other@g.us","script":"echo"}`)
	if err != nil || !strings.HasPrefix(out, "Task task-") || !strings.HasSuffix(out, " scheduled: cron - 0 9 * * *") {
		t.Fatalf("%q %v", out, err)
	}
	m := onlyFile(t, filepath.Join(dir, "tasks"))
	want := map[string]any{"type": "schedule_task", "prompt": "water plants", "schedule_type": "cron", "schedule_value": "0 9 * * *",
		"context_mode": "group", "targetJid": "own@g.us", "createdBy": "whatsapp_fam", "script": "echo"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("[%s] = %v, want %v", k, m[k], v)
		}
	}
	if id, _ := m["taskId"].(string); !strings.Contains(out, id) || id == "" {
		t.Errorf("taskId %v not in %q", m["taskId"], out)
	}

	// Main may target another group.
	mtools, mdir := toolsFor(t, true)
	if _, err := call(t, mtools["schedule_task"], `{"prompt":"p","schedule_type":"once","schedule_value":"2030-01-01T10:00:00","context_mode":"isolated","target_group_jid":"other@g.us"}`); err != nil {
		t.Fatal(err)
	}
	m = onlyFile(t, filepath.Join(mdir, "tasks"))
	if m["targetJid"] != "other@g.us" || m["context_mode"] != "isolated" {
		t.Errorf("main schedule %v", m)
	}
}

func TestTaskOpsAndRegister(t *testing.T) {
	tools, dir := toolsFor(t, false)
	for name, want := range map[string]string{"pause_task": "Task t1 pause requested.", "resume_task": "Task t1 resume requested.", "cancel_task": "Task t1 cancellation requested."} {
		out, err := call(t, tools[name], `{"task_id":"t1"}`)
		if err != nil || out != want {
			t.Errorf("%s: %q %v", name, out, err)
		}
		m := onlyFile(t, filepath.Join(dir, "tasks"))
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
	if err != nil || out != "Task t1 update requested." {
		t.Fatalf("%q %v", out, err)
	}
	m := onlyFile(t, filepath.Join(dir, "tasks"))
	if m["prompt"] != "new" || m["script"] != "" || m["schedule_type"] != nil {
		t.Errorf("update file %v", m)
	}

	reg := `{"jid":"9@g.us","name":"Family","folder":"whatsapp_family","trigger":"@Andy"}`
	if _, err := call(t, tools["register_group"], reg); err == nil || !strings.Contains(err.Error(), "Only the main group can register new groups.") {
		t.Errorf("non-main register: %v", err)
	}
	mtools, mdir := toolsFor(t, true)
	out, err = call(t, mtools["register_group"], reg)
	if err != nil || !strings.Contains(out, "Family") {
		t.Fatalf("%q %v", out, err)
	}
	m = onlyFile(t, filepath.Join(mdir, "tasks"))
	if m["type"] != "register_group" || m["jid"] != "9@g.us" || m["folder"] != "whatsapp_family" || m["trigger"] != "@Andy" || m["requiresTrigger"] != false {
		t.Errorf("register file %v", m)
	}
}

func TestListTasks(t *testing.T) {
	snapshot := `[{"id":"a","groupFolder":"whatsapp_fam","prompt":"` + strings.Repeat("x", 60) + `","schedule_type":"cron","schedule_value":"0 9 * * *","status":"active","next_run":"2030-01-01T09:00:00.000Z"},
	{"id":"b","groupFolder":"other","prompt":"theirs","schedule_type":"interval","schedule_value":"1000","status":"paused","next_run":null}]`
	for _, isMain := range []bool{false, true} {
		tools, dir := toolsFor(t, isMain)
		out, _ := call(t, tools["list_tasks"], `{}`)
		if out != "No scheduled tasks found." {
			t.Errorf("no snapshot: %q", out)
		}
		os.WriteFile(filepath.Join(dir, "current_tasks.json"), []byte(snapshot), 0o644)
		out, err := call(t, tools["list_tasks"], `{}`)
		if err != nil {
			t.Fatal(err)
		}
		wantA := "- [a] " + strings.Repeat("x", 50) + "... (cron: 0 9 * * *) - active, next: 2030-01-01T09:00:00.000Z"
		if !strings.HasPrefix(out, "Scheduled tasks:\n") || !strings.Contains(out, wantA) {
			t.Errorf("main=%v: %q", isMain, out)
		}
		if hasB := strings.Contains(out, "- [b] theirs... (interval: 1000) - paused, next: N/A"); hasB != isMain {
			t.Errorf("main=%v: other group's task shown=%v: %q", isMain, hasB, out)
		}
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
