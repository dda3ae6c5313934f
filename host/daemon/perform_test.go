package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/groupreg"
	"github.com/nanoclaw/nanoclaw-go/host/ipc"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// ipcNow is the fixed clock of the IPC tests: Saturday 2024-06-01 08:00 in New York (EDT).
var ipcNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// ipcHarness is a started host in America/New_York at ipcNow, with main and family
// registered.
func ipcHarness(t *testing.T, name string) *harness {
	t.Helper()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, options{now: func() time.Time { return ipcNow }, settings: func(s *config.Settings) {
		s.Location, s.TZ = ny, ny.String()
		if name != "" {
			s.AssistantName = name
		}
	}})
	h.register(mainGroup)
	h.register(familyGroup)
	h.start()
	return h
}

// perform decodes body as the IPC service does and performs it for group.
func (h *harness) perform(group, body string) error {
	h.t.Helper()
	_, err := h.performResult(group, body)
	return err
}

func (h *harness) performResult(group, body string) (any, error) {
	h.t.Helper()
	op, err := ipc.Decode([]byte(body))
	if err != nil {
		h.t.Fatalf("decode %s: %v", body, err)
	}
	g, ok := h.d.groups.ByFolder(group)
	if !ok {
		h.t.Fatalf("no group %s", group)
	}
	return h.d.Perform(h.ctx, ipc.Request{Group: group, IsMain: g.IsMain, Op: op})
}

// ipcRequest sends body over group's agent socket, as that group's agent would.
func (h *harness) ipcRequest(group, body string) runproto.IPCResponse {
	h.t.Helper()
	dir, err := h.d.sockets.Listen(group)
	if err != nil {
		h.t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(dir, agentsock.SocketName))
	}}}
	resp, err := c.Post("http://agent"+runproto.PathIPC, "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out runproto.IPCResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) task(id string) (store.Task, bool) {
	h.t.Helper()
	tk, ok, err := h.st.Task(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return tk, ok
}

// listedTasks is the ids list_tasks answers to folder.
func (h *harness) listedTasks(folder string) []string {
	h.t.Helper()
	g, _ := h.d.groups.ByFolder(folder)
	list, err := h.d.taskList(h.ctx, folder, g.IsMain)
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, x := range list.Tasks {
		ids = append(ids, x.ID)
	}
	slices.Sort(ids)
	return ids
}

var generatedID = regexp.MustCompile(`^task-` + "1717243200000" + `-[0-9a-z]{6}$`)

func TestScheduleTask(t *testing.T) {
	t.Parallel()
	h := ipcHarness(t, "")
	cases := []struct {
		name     string
		by       string
		body     string
		wantErr  string
		wantNext string
		wantMode string
		check    func(t *testing.T, tk store.Task)
	}{
		{name: "once without offset is wall-clock time in TZ", by: "main",
			body:     `{"type":"schedule_task","taskId":"t-once","prompt":"p","schedule_type":"once","schedule_value":"2024-06-01T15:30:00","targetJid":"test:family"}`,
			wantNext: "2024-06-01T19:30:00.000Z", wantMode: "isolated"},
		{name: "once in UTC", by: "main",
			body:     `{"type":"schedule_task","taskId":"t-once-z","prompt":"p","schedule_type":"once","schedule_value":"2024-06-01T15:30:00Z","targetJid":"test:family"}`,
			wantNext: "2024-06-01T15:30:00.000Z", wantMode: "isolated"},
		{name: "once with an offset", by: "main",
			body:     `{"type":"schedule_task","taskId":"t-once-off","prompt":"p","schedule_type":"once","schedule_value":"2024-06-01T15:30:00+02:00","targetJid":"test:family"}`,
			wantNext: "2024-06-01T13:30:00.000Z", wantMode: "isolated"},
		{name: "cron in TZ", by: "main",
			body:     `{"type":"schedule_task","taskId":"t-cron","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:main","context_mode":"group"}`,
			wantNext: "2024-06-01T13:00:00.000Z", wantMode: "group"},
		{name: "interval from now", by: "family",
			body:     `{"type":"schedule_task","taskId":"t-int","prompt":"p","schedule_type":"interval","schedule_value":"3600000","targetJid":"test:family","context_mode":"bogus"}`,
			wantNext: "2024-06-01T13:00:00.000Z", wantMode: "isolated"},
		{name: "interval as a JSON number", by: "family",
			body:     `{"type":"schedule_task","taskId":"t-int-n","prompt":"p","schedule_type":"interval","schedule_value":60000,"targetJid":"test:family","context_mode":"isolated"}`,
			wantNext: "2024-06-01T12:01:00.000Z", wantMode: "isolated"},
		{name: "generated id, script kept", by: "main",
			body:     `{"type":"schedule_task","prompt":"with script","schedule_type":"cron","schedule_value":"30 10 * * 1","targetJid":"test:family","script":"echo hi"}`,
			wantNext: "2024-06-03T14:30:00.000Z", wantMode: "isolated",
			check: func(t *testing.T, tk store.Task) {
				if tk.Script != "echo hi" || !generatedID.MatchString(tk.ID) {
					t.Errorf("task %+v", tk)
				}
			}},
		{name: "invalid cron", by: "main", wantErr: "schedule",
			body: `{"type":"schedule_task","taskId":"t-bad","prompt":"p","schedule_type":"cron","schedule_value":"61 * * * *","targetJid":"test:family"}`},
		{name: "an id that is taken", by: "family", wantErr: "is taken",
			body: `{"type":"schedule_task","taskId":"t-once","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:family"}`},
		{name: "unregistered target", by: "main", wantErr: "not registered",
			body: `{"type":"schedule_task","taskId":"t-nobody","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:nobody"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.st.Tasks(h.ctx)
			err := h.perform(tc.by, tc.body)
			after, _ := h.st.Tasks(h.ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one about %q", err, tc.wantErr)
				}
				if len(after) != len(before) {
					t.Errorf("a task was created: %+v", after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("tasks %+v", after)
			}
			var tk store.Task
			for _, x := range after {
				if !slices.ContainsFunc(before, func(b store.Task) bool { return b.ID == x.ID }) {
					tk = x
				}
			}
			var op struct{ TargetJid, Prompt, Schedule_type string }
			_ = json.Unmarshal([]byte(tc.body), &op)
			target, _ := h.d.groups.ByJID(op.TargetJid)
			if tk.NextRun != tc.wantNext || tk.ContextMode != tc.wantMode || tk.Status != store.TaskActive ||
				tk.ChatJID != target.JID || tk.GroupFolder != target.Folder || tk.Prompt != op.Prompt ||
				tk.ScheduleType != op.Schedule_type || tk.CreatedAt != store.Timestamp(ipcNow) {
				t.Errorf("task %+v, want next %s mode %s", tk, tc.wantNext, tc.wantMode)
			}
			if tc.check != nil {
				tc.check(t, tk)
			}
			// list_tasks shows the change: main sees all, the target its own.
			if ids := h.listedTasks("main"); !slices.Contains(ids, tk.ID) {
				t.Errorf("main's list %v lacks %s", ids, tk.ID)
			}
			if ids := h.listedTasks(target.Folder); !slices.Contains(ids, tk.ID) {
				t.Errorf("%s's list %v lacks %s", target.Folder, ids, tk.ID)
			}
		})
	}
}

func TestTaskChanges(t *testing.T) {
	t.Parallel()
	h := ipcHarness(t, "")
	const stale = "2024-12-25T14:00:00.000Z" // wrong, and not due: the scheduler must not fire these tasks
	mk := func(t *testing.T, id, kind, value, next, status string) {
		t.Helper()
		if err := h.st.CreateTask(h.ctx, store.Task{ID: id, GroupFolder: "family", ChatJID: famJID, Prompt: "old prompt",
			ScheduleType: kind, ScheduleValue: value, NextRun: next, Status: status, Script: "old script"}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		setup   func(t *testing.T) // creates the task "x-<n>"
		body    string
		wantErr string
		want    func(t *testing.T, tk store.Task, ok bool)
	}{
		{name: "pause", setup: func(t *testing.T) { mk(t, "x-1", "cron", "0 9 * * *", "2024-06-02T13:00:00.000Z", store.TaskActive) },
			body: `{"type":"pause_task","taskId":"x-1"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.Status != store.TaskPaused || tk.NextRun != "2024-06-02T13:00:00.000Z" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "resume cron recomputes next_run", setup: func(t *testing.T) { mk(t, "x-2", "cron", "0 9 * * *", stale, store.TaskPaused) },
			body: `{"type":"resume_task","taskId":"x-2"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.Status != store.TaskActive || tk.NextRun != "2024-06-01T13:00:00.000Z" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "resume interval recomputes next_run", setup: func(t *testing.T) { mk(t, "x-3", "interval", "60000", stale, store.TaskPaused) },
			body: `{"type":"resume_task","taskId":"x-3"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.Status != store.TaskActive || tk.NextRun != "2024-06-01T12:01:00.000Z" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "resume once keeps its time", setup: func(t *testing.T) {
			mk(t, "x-4", "once", "2024-07-01T10:00:00", "2024-07-01T14:00:00.000Z", store.TaskPaused)
		},
			body: `{"type":"resume_task","taskId":"x-4"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.Status != store.TaskActive || tk.NextRun != "2024-07-01T14:00:00.000Z" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "cancel deletes the task and its logs", setup: func(t *testing.T) {
			mk(t, "x-5", "cron", "0 9 * * *", stale, store.TaskActive)
			if err := h.st.LogTaskRun(h.ctx, store.TaskRunLog{TaskID: "x-5", RunAt: stale, Status: "success"}); err != nil {
				t.Fatal(err)
			}
		},
			body: `{"type":"cancel_task","taskId":"x-5"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if ok {
					t.Errorf("task still there: %+v", tk)
				}
				if logs, _ := h.st.TaskRunLogs(h.ctx, "x-5"); len(logs) != 0 {
					t.Errorf("logs left: %+v", logs)
				}
				if ids := h.listedTasks("family"); slices.Contains(ids, "x-5") {
					t.Errorf("list_tasks still lists it: %v", ids)
				}
			}},
		{name: "update schedule value recomputes next_run", setup: func(t *testing.T) { mk(t, "x-6", "cron", "0 9 * * *", stale, store.TaskActive) },
			body: `{"type":"update_task","taskId":"x-6","schedule_value":"30 10 * * *"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.ScheduleType != "cron" || tk.ScheduleValue != "30 10 * * *" || tk.NextRun != "2024-06-01T14:30:00.000Z" ||
					tk.Prompt != "old prompt" || tk.Script != "old script" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "update schedule type and value", setup: func(t *testing.T) { mk(t, "x-7", "cron", "0 9 * * *", stale, store.TaskActive) },
			body: `{"type":"update_task","taskId":"x-7","schedule_type":"interval","schedule_value":"120000"}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.ScheduleType != "interval" || tk.ScheduleValue != "120000" || tk.NextRun != "2024-06-01T12:02:00.000Z" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "update prompt only keeps the schedule", setup: func(t *testing.T) { mk(t, "x-8", "cron", "0 9 * * *", stale, store.TaskActive) },
			body: `{"type":"update_task","taskId":"x-8","prompt":"new prompt","script":""}`,
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.Prompt != "new prompt" || tk.Script != "" || tk.NextRun != stale || tk.ScheduleValue != "0 9 * * *" {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "update with an invalid schedule changes nothing", setup: func(t *testing.T) { mk(t, "x-9", "cron", "0 9 * * *", stale, store.TaskActive) },
			body: `{"type":"update_task","taskId":"x-9","prompt":"new prompt","schedule_value":"not cron"}`, wantErr: "update",
			want: func(t *testing.T, tk store.Task, ok bool) {
				if tk.Prompt != "old prompt" || tk.ScheduleValue != "0 9 * * *" || tk.NextRun != stale {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "unknown task", setup: func(t *testing.T) {}, body: `{"type":"pause_task","taskId":"x-10"}`, wantErr: "no task x-10",
			want: func(t *testing.T, tk store.Task, ok bool) {
				if ok {
					t.Errorf("%+v", tk)
				}
			}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			err := h.perform("main", tc.body)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			tk, ok := h.task("x-" + strconv.Itoa(i+1))
			tc.want(t, tk, ok)
		})
	}
}

// TestRegisterFollowsNoAgentLink: what an agent can plant where registration reads or
// writes is never followed. Main has groups/global read-write, so it can replace the global
// memory with a link to any host file; any agent can leave a dangling CLAUDE.md link in a
// folder that is registered later; and a template location that is a link (which no agent
// can make: templates/ is the host's) is refused all the same.
func TestRegisterFollowsNoAgentLink(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		plant   func(t *testing.T, root, victim string)
		refused bool   // the registration fails (it succeeds otherwise)
		md      string // the new group's memory afterwards ("": none)
	}{
		{name: "global memory linked to a host file by main", md: wantGroupMD("Andy"), plant: func(t *testing.T, root, victim string) {
			global := filepath.Join(root, "groups", "global", "CLAUDE.md")
			if err := os.Remove(global); err != nil { // made when the harness registered main
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(victim, "passwd"), global); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "group template linked to a host file", refused: true, plant: func(t *testing.T, root, victim string) {
			tmpl := filepath.Join(root, "templates", "group.md")
			if err := os.Remove(tmpl); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(victim, "passwd"), tmpl); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "dangling CLAUDE.md link in the new folder", plant: func(t *testing.T, root, victim string) {
			if err := os.MkdirAll(filepath.Join(root, "groups", "newgrp"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(victim, "created-by-host"), filepath.Join(root, "groups", "newgrp", "CLAUDE.md")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := ipcHarness(t, "")
			victim := t.TempDir()
			if err := os.WriteFile(filepath.Join(victim, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c.plant(t, h.root, victim)
			err := h.perform("main", `{"type":"register_group","jid":"test:new","name":"New","folder":"newgrp","trigger":"@Andy"}`)
			if c.refused != (err != nil) {
				t.Fatalf("register_group: %v (want refused: %v)", err, c.refused)
			}
			if c.refused && !errors.Is(err, agentfs.ErrRefused) {
				t.Errorf("the error does not say it was refused: %v", err)
			}
			b, err := os.ReadFile(filepath.Join(h.root, "groups", "newgrp", "CLAUDE.md"))
			if c.md == "" && err == nil || c.md != "" && string(b) != c.md {
				t.Errorf("the new group's memory holds %q (%v), want %q", b, err, c.md)
			}
			entries, _ := os.ReadDir(victim)
			if len(entries) != 1 {
				t.Errorf("the host created files outside the project: %v", entries)
			}
			if fi, err := os.Stat(filepath.Join(victim, "passwd")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
				t.Errorf("the host file was chowned or removed: %v", err)
			}
			if b, err := os.ReadFile(filepath.Join(victim, "passwd")); err != nil || string(b) != "root:x:0:0:root:/root:/bin/sh\n" {
				t.Errorf("the host file changed: %q, %v", b, err)
			}
		})
	}
}

// wantGroupMD is the harness's group template with the assistant's name.
func wantGroupMD(name string) string {
	return strings.NewReplacer("# Andy", "# "+name, "You are Andy", "You are "+name).Replace(testTemplates["group"])
}

func TestRegisterGroup(t *testing.T) {
	t.Parallel()
	// Claw, not Andy: the template's "Andy" must be replaced by the assistant's name.
	h := ipcHarness(t, "Claw")
	if err := os.MkdirAll(filepath.Join(h.root, "groups", "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "groups", "keep", "CLAUDE.md"), []byte("my own notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantMD := wantGroupMD("Claw") // the group template's, not the global memory
	if wantMD != "# Claw\n\nYou are Claw, a helpful assistant. Ask Andy anything.\n" {
		t.Fatalf("the group template renders as %q", wantMD)
	}
	cases := []struct {
		name    string
		body    string
		wantErr error // or nil
		errText string
		want    store.Group // JID "" : nothing registered
		md      string      // CLAUDE.md of the group afterwards
	}{
		{name: "main registers a group",
			body: `{"type":"register_group","jid":"test:new","name":"New","folder":"newgrp","trigger":"@Claw","requiresTrigger":false}`,
			want: store.Group{JID: "test:new", Name: "New", Folder: "newgrp", Trigger: "@Claw", AddedAt: store.Timestamp(ipcNow)},
			md:   wantMD},
		{name: "requiresTrigger defaults to true",
			body: `{"type":"register_group","jid":"test:new2","name":"New 2","folder":"new2","trigger":"@Claw"}`,
			want: store.Group{JID: "test:new2", Name: "New 2", Folder: "new2", Trigger: "@Claw", RequiresTrigger: true, AddedAt: store.Timestamp(ipcNow)},
			md:   wantMD},
		{name: "isMain in the request cannot grant main",
			body: `{"type":"register_group","jid":"test:sneaky","name":"Sneaky","folder":"sneaky","trigger":"@Claw","isMain":true}`,
			want: store.Group{JID: "test:sneaky", Name: "Sneaky", Folder: "sneaky", Trigger: "@Claw", RequiresTrigger: true, AddedAt: store.Timestamp(ipcNow)},
			md:   wantMD},
		{name: "an existing CLAUDE.md is kept",
			body: `{"type":"register_group","jid":"test:keep","name":"Keep","folder":"keep","trigger":"@Claw","containerConfig":{"timeout":60000}}`,
			want: store.Group{JID: "test:keep", Name: "Keep", Folder: "keep", Trigger: "@Claw", RequiresTrigger: true, AddedAt: store.Timestamp(ipcNow),
				ContainerConfig: json.RawMessage(`{"timeout":60000}`)},
			md: "my own notes"},
		{name: "re-registering main keeps it main",
			body: `{"type":"register_group","jid":"test:main","name":"Main renamed","folder":"main","trigger":"@Claw","requiresTrigger":false}`,
			want: store.Group{JID: mainJID, Name: "Main renamed", Folder: "main", Trigger: "@Claw", IsMain: true}},
		{name: "re-registering another group cannot make it main",
			body: `{"type":"register_group","jid":"test:family","name":"Family","folder":"family","trigger":"@Claw","isMain":true}`,
			want: store.Group{JID: famJID, Name: "Family", Folder: "family", Trigger: "@Claw", RequiresTrigger: true}},
		{name: "a folder of another chat is refused",
			body:    `{"type":"register_group","jid":"test:thief","name":"Thief","folder":"family","trigger":"@Claw"}`,
			errText: "already belongs"},
		{name: "the global folder is refused",
			body:    `{"type":"register_group","jid":"test:glob","name":"Glob","folder":"global","trigger":"@Claw"}`,
			wantErr: ErrInvalidFolder},
		{name: "a path is refused",
			body:    `{"type":"register_group","jid":"test:up","name":"Up","folder":"../up","trigger":"@Claw"}`,
			wantErr: ErrInvalidFolder},
		{name: "a trigger without @ is refused",
			body:    `{"type":"register_group","jid":"test:plain","name":"Plain","folder":"plain","trigger":"Claw"}`,
			wantErr: groupreg.ErrInvalid, errText: `trigger "Claw" must start with @, as in @Claw`},
		{name: "a malformed WhatsApp group id is refused",
			body:    `{"type":"register_group","jid":"family@g.us","name":"F","folder":"wafam","trigger":"@Claw"}`,
			wantErr: groupreg.ErrInvalid, errText: "is not a WhatsApp group id"},
		{name: "a malformed local chat id is refused",
			body:    `{"type":"register_group","jid":"local:a b","name":"F","folder":"lab","trigger":"@Claw"}`,
			wantErr: groupreg.ErrInvalid, errText: "is not a local chat id"},
		{name: "an id no running channel owns is refused",
			body:    `{"type":"register_group","jid":"nonsense","name":"N","folder":"nonsense","trigger":"@Claw"}`,
			wantErr: groupreg.ErrOtherChannel, errText: "local:NAME for a local chat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var op struct{ Jid, Folder string }
			_ = json.Unmarshal([]byte(tc.body), &op)
			old, wasRegistered, _ := h.st.RegisteredGroup(h.ctx, op.Jid)
			_, statErr := os.Stat(filepath.Join(h.root, "groups", op.Folder))
			folderExisted := statErr == nil
			err := h.perform("main", tc.body)
			if tc.wantErr != nil || tc.errText != "" {
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want %v %q", err, tc.wantErr, tc.errText)
				}
				g, ok, _ := h.st.RegisteredGroup(h.ctx, op.Jid)
				if ok != wasRegistered || ok && g.Folder != old.Folder {
					t.Errorf("registration changed: %+v", g)
				}
				if _, err := os.Stat(filepath.Join(h.root, "groups", op.Folder)); err == nil && !folderExisted {
					t.Errorf("a folder was made for a refused registration")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, ok, err := h.st.RegisteredGroup(h.ctx, tc.want.JID)
			if err != nil || !ok {
				t.Fatalf("not registered: %v", err)
			}
			want := tc.want
			if wasRegistered {
				want.AddedAt = old.AddedAt // kept from the first registration
			}
			if g.JID != want.JID || g.Name != want.Name || g.Folder != want.Folder || g.Trigger != want.Trigger ||
				g.RequiresTrigger != want.RequiresTrigger || g.IsMain != want.IsMain || g.AddedAt != want.AddedAt ||
				string(g.ContainerConfig) != string(want.ContainerConfig) {
				t.Errorf("registered %+v, want %+v", g, want)
			}
			if cached, ok := h.d.groups.ByJID(want.JID); !ok || cached.Folder != want.Folder || cached.IsMain != want.IsMain {
				t.Errorf("the groups cache has %+v", cached)
			}
			for _, d := range []string{"groups/%s", "data/sessions/%s"} {
				p := filepath.Join(h.root, strings.ReplaceAll(d, "%s", want.Folder))
				if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
					t.Errorf("%s: %v", p, err)
				}
			}
			if tc.md != "" {
				b, err := os.ReadFile(filepath.Join(h.root, "groups", want.Folder, "CLAUDE.md"))
				if err != nil || string(b) != tc.md {
					t.Errorf("CLAUDE.md %q (%v), want %q", b, err, tc.md)
				}
			}
		})
	}
}

func TestOtherRequests(t *testing.T) {
	t.Parallel()
	h := ipcHarness(t, "")
	t.Run("message is stored and sent as written", func(t *testing.T) {
		if err := h.perform("family", `{"type":"message","chatJid":"test:family","text":"<internal>raw</internal> hello"}`); err != nil {
			t.Fatal(err)
		}
		if sent := h.ch.waitSends(t, famJID, 1); !slices.Equal(sent, []string{"<internal>raw</internal> hello"}) {
			t.Errorf("sent %q", sent)
		}
		out, _ := h.st.OutgoingFor(h.ctx, famJID)
		if len(out) != 1 || out[0].Origin != "ipc:family" {
			t.Errorf("outbox %+v", out)
		}
	})
	t.Run("message to a chat no channel owns", func(t *testing.T) {
		err := h.perform("main", `{"type":"message","chatJid":"elsewhere:1","text":"hello"}`)
		if err == nil || !strings.Contains(err.Error(), "no connected channel owns chat elsewhere:1") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("refresh_groups syncs", func(t *testing.T) {
		if err := h.perform("main", `{"type":"refresh_groups"}`); err != nil {
			t.Fatal(err)
		}
		var syncs []chanCall
		for _, c := range h.ch.calls.all() {
			if c.Kind == "sync" {
				syncs = append(syncs, c)
			}
		}
		if len(syncs) != 1 || !syncs[0].On {
			t.Errorf("syncs %+v, want one forced", syncs)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		if err := h.perform("main", `{"type":"launch_rockets"}`); err == nil {
			t.Error("performed")
		}
	})
}

// IPC requests sent over a group's agent socket go through the ipc policy and Perform; the
// socket, not the request, says who is asking, and every request gets an answer.
func TestIPCOverSocket(t *testing.T) {
	t.Parallel()
	h := ipcHarness(t, "")
	cases := []struct {
		name      string
		folder    string
		body      string
		performed bool
		reason    string
		check     func(t *testing.T, resp runproto.IPCResponse)
	}{
		{"main schedules a task for family", "main",
			`{"type":"schedule_task","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:family"}`,
			true, "", func(t *testing.T, resp runproto.IPCResponse) {
				res, _ := resp.Result.(map[string]any)
				id, _ := res["taskId"].(string)
				if tk, ok := h.task(id); !ok || tk.GroupFolder != "family" || tk.NextRun != "2024-06-01T13:00:00.000Z" || !generatedID.MatchString(id) {
					t.Errorf("task %q: %+v", id, tk)
				}
			}},
		{"family cannot schedule for main", "family",
			`{"type":"schedule_task","taskId":"f-2","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:main"}`,
			false, "denied by ipcauthz", func(t *testing.T, _ runproto.IPCResponse) {
				if _, ok := h.task("f-2"); ok {
					t.Error("task created")
				}
			}},
		{"family cannot register groups, whatever the request claims", "family",
			`{"type":"register_group","jid":"test:x","name":"X","folder":"xgrp","trigger":"@Andy","isMain":true,"groupFolder":"main"}`,
			false, "only the main group can register groups", func(t *testing.T, _ runproto.IPCResponse) {
				if _, ok := h.d.groups.ByJID("test:x"); ok {
					t.Error("registered")
				}
			}},
		{"family messages its own chat", "family",
			`{"type":"message","chatJid":"test:family","text":"from the family agent"}`,
			true, "", func(t *testing.T, _ runproto.IPCResponse) {
				if sent := h.ch.waitSends(t, famJID, 1); !slices.Contains(sent, "from the family agent") {
					t.Errorf("sent %q", sent)
				}
			}},
		{"family cannot message main's chat", "family",
			`{"type":"message","chatJid":"test:main","text":"psst"}`,
			false, "denied by ipcauthz", func(t *testing.T, _ runproto.IPCResponse) {
				if sent := h.ch.sends(mainJID); len(sent) != 0 {
					t.Errorf("sent %q", sent)
				}
			}},
		{"family lists its own tasks", "family", `{"type":"list_tasks"}`,
			true, "", func(t *testing.T, resp runproto.IPCResponse) {
				res, _ := resp.Result.(map[string]any)
				tasks, _ := res["tasks"].([]any)
				if len(tasks) != 1 {
					t.Errorf("tasks %v", res)
				}
			}},
		{"family may not see the chats main may register", "family", `{"type":"available_groups"}`,
			false, "denied by ipcauthz", nil},
		{"performing fails: no channel owns the chat", "main",
			`{"type":"message","chatJid":"elsewhere:1","text":"hello"}`,
			false, "allowed, but performing it failed", nil},
		{"not JSON", "family", `{"type":`, false, "invalid JSON", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.ipcRequest(tc.folder, tc.body)
			if resp.OK != tc.performed || !strings.Contains(resp.Error, tc.reason) {
				t.Errorf("answer %+v, want performed %v reason %q", resp, tc.performed, tc.reason)
			}
			if !tc.performed {
				refused, _ := h.st.RecentIPCRefusals(h.ctx, 1)
				if len(refused) != 1 || refused[0].Group != tc.folder || refused[0].Request != tc.body || refused[0].Reason != resp.Error {
					t.Errorf("refusal kept as %+v", refused)
				}
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
	if st := h.d.Status(h.ctx); len(st.Errors) != 6 {
		t.Errorf("status shows %d refusals, want 6", len(st.Errors))
	}
}

// list_tasks and available_groups: main sees every task and the groups it may register;
// another group sees its own tasks and no groups.
func TestLists(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	h.register(familyGroup)
	for _, c := range []store.Chat{
		{JID: "test:club", Name: "Book club", LastMessageTime: ts(5), Channel: "test", IsGroup: true},
		{JID: "test:bob", Name: "Bob", LastMessageTime: ts(6), Channel: "test", IsGroup: false},
	} {
		if err := h.st.StoreChatMetadata(h.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	later := store.Timestamp(time.Now().Add(24 * time.Hour))
	for _, tk := range []store.Task{
		{ID: "t-main", GroupFolder: "main", ChatJID: mainJID, Prompt: "a", ScheduleType: "cron", ScheduleValue: "0 9 * * *", NextRun: later},
		{ID: "t-fam", GroupFolder: "family", ChatJID: famJID, Prompt: "b", ScheduleType: "cron", ScheduleValue: "0 9 * * *", NextRun: later},
	} {
		if err := h.st.CreateTask(h.ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	h.start()

	if ids := h.listedTasks("main"); !slices.Equal(ids, []string{"t-fam", "t-main"}) {
		t.Errorf("main's tasks %v", ids)
	}
	if ids := h.listedTasks("family"); !slices.Equal(ids, []string{"t-fam"}) {
		t.Errorf("family's tasks %v", ids)
	}
	res, err := h.performResult("family", `{"type":"list_tasks"}`)
	full, _ := res.(runproto.TaskList)
	if err != nil || len(full.Tasks) != 1 || full.Tasks[0].Prompt != "b" || full.Tasks[0].ScheduleType != "cron" || full.Tasks[0].NextRun == nil || *full.Tasks[0].NextRun != later {
		t.Errorf("family's list %+v %v", full, err)
	}

	res, err = h.performResult("main", `{"type":"available_groups"}`)
	mainGroups, _ := res.(runproto.GroupList)
	reg := map[string]bool{}
	for _, g := range mainGroups.Groups {
		reg[g.JID] = g.IsRegistered
	}
	if err != nil || len(reg) != 3 || reg["test:club"] || !reg[famJID] || !reg[mainJID] {
		t.Errorf("main's available groups %+v %v", mainGroups.Groups, err)
	}
	res, _ = h.performResult("family", `{"type":"available_groups"}`)
	if famGroups, _ := res.(runproto.GroupList); famGroups.Groups == nil || len(famGroups.Groups) != 0 {
		t.Errorf("family's available groups %+v, want an empty list", famGroups.Groups)
	}
	// A new chat shows up in main's list at once.
	if err := h.d.OnChatMetadata(h.ctx, channel.ChatMeta{JID: "test:new", Name: "New", Channel: "test", IsGroup: true}); err != nil {
		t.Fatal(err)
	}
	res, _ = h.performResult("main", `{"type":"available_groups"}`)
	mainGroups, _ = res.(runproto.GroupList)
	if !slices.ContainsFunc(mainGroups.Groups, func(g runproto.AvailableGroup) bool { return g.JID == "test:new" && g.Name == "New" }) {
		t.Errorf("main's available groups %+v lack the new chat", mainGroups.Groups)
	}
}

// A group can hold at most maxTasksPerGroup tasks: an agent cannot make the scheduler carry
// an unbounded number.
func TestTaskCap(t *testing.T) {
	t.Parallel()
	h := ipcHarness(t, "")
	for i := range maxTasksPerGroup {
		if err := h.st.CreateTask(h.ctx, store.Task{ID: fmt.Sprint("cap-", i), GroupFolder: "family", ChatJID: famJID, Prompt: "p",
			ScheduleType: "cron", ScheduleValue: "0 9 * * *", NextRun: "2030-01-01T09:00:00.000Z", Status: store.TaskActive}); err != nil {
			t.Fatal(err)
		}
	}
	err := h.perform("family", `{"type":"schedule_task","prompt":"one more","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:family"}`)
	if err == nil || !strings.Contains(err.Error(), "cancel some first") {
		t.Fatalf("error %v", err)
	}
	if err := h.perform("main", `{"type":"schedule_task","prompt":"main's own","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"test:main"}`); err != nil {
		t.Fatalf("another group is not capped: %v", err)
	}
}
