package ipc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// world is a host with two registered groups, main and family, deciding with the default
// ipc policy natively (the plugin's own code).
type world struct {
	mu        sync.Mutex
	performed []Request
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

func (w *world) Perform(_ context.Context, r Request) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failWith != nil {
		return w.failWith
	}
	w.performed = append(w.performed, r)
	return nil
}

// start runs a watcher over a fresh data/ipc and returns its directory and outcome stream.
func start(t *testing.T, w *world, before func(dir string)) (string, <-chan Outcome) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"main", "family"} {
		for _, d := range []string{DirMessages, DirTasks} {
			if err := os.MkdirAll(filepath.Join(dir, f, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if before != nil {
		before(dir)
	}
	outcomes := make(chan Outcome, 64)
	ready := make(chan struct{})
	watcher := New(Config{Dir: dir, Authorizer: w, Facts: w, Performer: w, OnOutcome: func(o Outcome) { outcomes <- o }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { close(ready); done <- watcher.Run(ctx) }()
	<-ready
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return dir, outcomes
}

func next(t *testing.T, c <-chan Outcome) Outcome {
	t.Helper()
	select {
	case o := <-c:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no IPC outcome within 10s")
		return Outcome{}
	}
}

// drop writes a request the way the agent runner does: a temporary file renamed into place.
func drop(t *testing.T, dir, folder, sub, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, folder, sub, name)
	if err := os.WriteFile(p+".tmp", []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitWatching drops a harmless request and waits for it, so the watch is known to be set.
func waitWatching(t *testing.T, dir string, outcomes <-chan Outcome) {
	t.Helper()
	drop(t, dir, "main", DirTasks, "0-ready.json", `{"type":"list_tasks"}`)
	if o := next(t, outcomes); o.File != "0-ready.json" || !o.Performed {
		t.Fatalf("readiness probe: %+v", o)
	}
}

func TestWatcherRequests(t *testing.T) {
	big := `{"type":"message","chatJid":"family@g.us","text":"` + strings.Repeat("a", MaxRequestBytes) + `"}`
	tests := []struct {
		name, folder, dir, body string
		performed               bool
		reason                  string // substring of the refusal
	}{
		{"own chat", "family", DirMessages, `{"type":"message","chatJid":"family@g.us","text":"hi"}`, true, ""},
		{"main to any chat", "main", DirMessages, `{"type":"message","chatJid":"stranger@s.whatsapp.net","text":"hi"}`, true, ""},
		{"non-main to another chat", "family", DirMessages, `{"type":"message","chatJid":"main@g.us","text":"hi"}`, false, "denied by ipcauthz"},
		{"not JSON", "family", DirMessages, `{"type":`, false, "invalid JSON"},
		{"duplicate key", "family", DirMessages, `{"type":"message","chatJid":"family@g.us","chatJid":"main@g.us","text":"x"}`, false, "appears twice"},
		{"oversize", "family", DirMessages, big, false, "larger than"},
		{"own task", "family", DirTasks, `{"type":"pause_task","taskId":"task-family"}`, true, ""},
		{"another group's task", "family", DirTasks, `{"type":"cancel_task","taskId":"task-other"}`, false, "no such task"},
		{"register by non-main", "family", DirTasks, `{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy"}`, false, "only the main group"},
		{"register by main", "main", DirTasks, `{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy","requiresTrigger":false}`, true, ""},
		{"wrong type for a field", "main", DirTasks, `{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy","requiresTrigger":"no"}`, false, "must be a boolean"},
	}
	w := &world{}
	dir, outcomes := start(t, w, nil)
	waitWatching(t, dir, outcomes)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.Repeat("1", i+1) + "-req.json"
			path := drop(t, dir, tc.folder, tc.dir, name, tc.body)
			o := next(t, outcomes)
			if o.File != name || o.Performed != tc.performed || !strings.Contains(o.Reason, tc.reason) {
				t.Fatalf("outcome %+v, want performed=%v reason ~%q", o, tc.performed, tc.reason)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("request file still in place: %v", err)
			}
			if tc.performed {
				return
			}
			if b, err := os.ReadFile(o.Quarantine); err != nil || string(b) != tc.body {
				t.Errorf("quarantined copy: %v", err)
			}
			if b, err := os.ReadFile(o.Quarantine + ".reason"); err != nil || !strings.Contains(string(b), o.Reason) {
				t.Errorf("reason file %q, %v", b, err)
			}
		})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.performed) != 5 { // the probe and the four allowed
		t.Errorf("performed %d requests: %+v", len(w.performed), w.performed)
	}
}

func TestWatcherUnsafeFiles(t *testing.T) {
	w := &world{}
	dir, outcomes := start(t, w, nil)
	waitWatching(t, dir, outcomes)
	secret := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(secret, []byte(`{"type":"message","chatJid":"main@g.us","text":"secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "family", DirMessages, "1-link.json")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	o := next(t, outcomes)
	if o.Performed || !strings.Contains(o.Reason, "symbolic link") {
		t.Fatalf("symlink: %+v", o)
	}
	if fi, err := os.Lstat(o.Quarantine); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link itself should be quarantined: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the link's target was touched: %v", err)
	}
	// A FIFO would block a plain open forever.
	if err := syscall.Mkfifo(filepath.Join(dir, "family", DirMessages, "2-fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o := next(t, outcomes); o.Performed || !strings.Contains(o.Reason, "not a regular file") {
		t.Fatalf("fifo: %+v", o)
	}
	// A temporary file is not a request.
	if err := os.WriteFile(filepath.Join(dir, "family", DirMessages, "3-x.json.tmp"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitWatching(t, dir, outcomes)
}

func TestWatcherStartupAndNewGroups(t *testing.T) {
	w := &world{}
	dir, outcomes := start(t, w, func(dir string) {
		// Written while the host was down: processed at startup, in order.
		drop(t, dir, "family", DirMessages, "100-a.json", `{"type":"message","chatJid":"family@g.us","text":"first"}`)
		drop(t, dir, "family", DirMessages, "200-b.json", `{"type":"message","chatJid":"family@g.us","text":"second"}`)
		_ = os.MkdirAll(filepath.Join(dir, "ghost", DirMessages), 0o755)
		drop(t, dir, "ghost", DirMessages, "300-c.json", `{"type":"message","chatJid":"family@g.us","text":"x"}`)
	})
	got := map[string]Outcome{}
	for range 3 {
		o := next(t, outcomes)
		got[o.File] = o
	}
	if !got["100-a.json"].Performed || !got["200-b.json"].Performed {
		t.Fatalf("startup outcomes: %+v", got)
	}
	if o := got["300-c.json"]; o.Performed || !strings.Contains(o.Reason, "no registered group") {
		t.Fatalf("unregistered folder: %+v", o)
	}
	w.mu.Lock()
	if len(w.performed) != 2 || w.performed[0].Op.Text != "first" {
		t.Errorf("startup order: %+v", w.performed)
	}
	w.mu.Unlock()
	// A group directory created while running is watched (its request dirs made after it).
	if err := os.MkdirAll(filepath.Join(dir, "main", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitWatching(t, dir, outcomes)
	if err := os.RemoveAll(filepath.Join(dir, "family")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "family"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "family", DirMessages), 0o755); err != nil {
		t.Fatal(err)
	}
	drop(t, dir, "family", DirMessages, "400-d.json", `{"type":"message","chatJid":"family@g.us","text":"late"}`)
	// The file may have been seen by the directory scan or by its own event: either way once.
	if o := next(t, outcomes); o.File != "400-d.json" || !o.Performed {
		t.Fatalf("new directory: %+v", o)
	}
}

func TestWatcherPerformFailureKeepsRequest(t *testing.T) {
	w := &world{failWith: errors.New("no channel owns the chat")}
	dir, outcomes := start(t, w, nil)
	drop(t, dir, "family", DirMessages, "1-a.json", `{"type":"message","chatJid":"family@g.us","text":"hi"}`)
	o := next(t, outcomes)
	if o.Performed || !strings.Contains(o.Reason, "no channel owns the chat") || o.Quarantine == "" {
		t.Fatalf("outcome %+v", o)
	}
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
