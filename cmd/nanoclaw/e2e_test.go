package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// TestHostEndToEnd drives the real host (`nanoclaw run`) through the local chat channel,
// with real containers from the minimal image and a mock Messages API behind the credential
// proxy: a message in, a reply out; a follow-up piped into the running container; trigger
// rules; a task scheduled by the agent firing exactly once; IPC sends to another group
// refused for non-main and performed for main.
func TestHostEndToEnd(t *testing.T) {
	d := requireDocker(t)
	started := time.Now()
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	if out, code := cli(t, work, vars, "groups", "add", "--jid", "local:family", "--folder", "family", "--name", "Family"); code != 0 {
		t.Fatalf("groups add: %s", out)
	}
	stop, _ := startHost(t, work, vars)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	main := dialChat(t, ctx, work, "local:main")

	// A message in, a reply out; the model saw the real key, injected by the proxy.
	main.say("hello there")
	req := api.next(t, 2*time.Minute)
	if !strings.Contains(req.Last, `sender="alice"`) || !strings.Contains(req.Last, "hello there") || !strings.Contains(req.Last, `<context timezone="UTC" />`) {
		t.Fatalf("prompt: %q", req.Last)
	}
	if req.Key != "sk-ant-e2e-real-key" {
		t.Errorf("the model saw key %q", req.Key)
	}
	if got := main.reply(time.Minute); got != "reply: hello there" {
		t.Fatalf("reply %q", got)
	}

	// A follow-up goes into the running container: the same conversation continues.
	main.say("second thing")
	req = api.next(t, time.Minute)
	if req.Messages < 3 || !strings.Contains(req.Body, "reply: hello there") {
		t.Fatalf("the follow-up did not reach the running agent's conversation: %d messages, last %q", req.Messages, req.Last)
	}
	if got := main.reply(time.Minute); got != "reply: second thing" {
		t.Fatalf("follow-up reply %q", got)
	}

	// A non-main group needs its trigger; without it a message is only context.
	fam := dialChat(t, ctx, work, "local:family")
	fam.say("just chatting")
	fam.noReply(2 * time.Second)
	fam.say("@Andy what did I say?")
	req = api.next(t, 2*time.Minute)
	if !strings.Contains(req.Last, "just chatting") || !strings.Contains(req.Last, "@Andy what did I say?") {
		t.Fatalf("the triggered prompt lacks its context: %q", req.Last)
	}
	if got := fam.reply(time.Minute); got != "reply: @Andy what did I say?" {
		t.Fatalf("family reply %q", got)
	}

	// IPC over the agent sockets: a non-main group cannot message another chat; main can.
	// Either way the agent is told.
	if resp := sendIPC(t, work, "family", `{"type":"message","chatJid":"local:main","text":"spoofed"}`); resp.OK || !strings.Contains(resp.Error, "denied by ipcauthz") {
		t.Fatalf("family's message to main: %+v", resp)
	}
	if resp := sendIPC(t, work, "main", `{"type":"message","chatJid":"local:family","text":"from main"}`); !resp.OK {
		t.Fatalf("main's message to family: %+v", resp)
	}
	if got := fam.reply(30 * time.Second); got != "from main" {
		t.Fatalf("main's IPC message arrived as %q", got)
	}

	// The agent schedules a task; it fires once, two seconds later, in its own container.
	runLogs := watchDir(t, filepath.Join(work, "data", "logs", "main"))
	main.say("please schedule")
	if got := main.reply(2 * time.Minute); got != "tool done" {
		t.Fatalf("schedule reply %q", got)
	}
	if got := main.reply(2 * time.Minute); got != "task ran" {
		t.Fatalf("task result %q", got)
	}
	// The message container was closed for the task; the task's own run log marks its end.
	for ended := map[string]bool{}; len(ended) < 2; {
		select {
		case n := <-runLogs:
			if strings.HasSuffix(n, ".log") {
				ended[n] = true
			}
		case <-time.After(time.Minute):
			t.Fatal("the task's container did not end")
		}
	}
	main.noReply(2 * time.Second)

	// The terminal client: a piped line in, the assistant's reply out.
	var chatOut logBuffer
	if code := dispatch(ctx, []string{"chat", "--chat", "local:family", "--name", "bob", "--replies", "1"},
		env{stdin: strings.NewReader("@Andy via the cli\n"), stdout: &chatOut, stderr: &chatOut, getenv: func(k string) string { return vars[k] }, workdir: work}); code != 0 {
		t.Fatalf("nanoclaw chat exited %d:\n%s", code, chatOut.String())
	}
	if !strings.Contains(chatOut.String(), "reply: @Andy via the cli") {
		t.Fatalf("nanoclaw chat printed:\n%s", chatOut.String())
	}

	out, code := cli(t, work, vars, "status")
	if code != 0 || !strings.Contains(out, "family") || !strings.Contains(out, "router") {
		t.Errorf("status (%d):\n%s", code, out)
	}
	stop()
	st, err := store.Open(context.Background(), filepath.Join(work, "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tasks, err := st.Tasks(context.Background())
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %+v, %v", tasks, err)
	}
	logs, err := st.TaskRunLogs(context.Background(), tasks[0].ID)
	if err != nil || len(logs) != 1 || logs[0].Status != "success" {
		t.Fatalf("task runs %+v, %v", logs, err)
	}
	if tasks[0].Status != store.TaskCompleted || tasks[0].NextRun != "" {
		t.Errorf("task after its run: %+v", tasks[0])
	}
	// The proxy stored the day's usage (the mock reports 3 input and 2 output tokens a
	// call), so a restart continues it.
	var used store.APIUsage
	for _, day := range slices.Compact([]string{started.UTC().Format(time.DateOnly), time.Now().UTC().Format(time.DateOnly)}) {
		rows, err := st.APIUsageOn(context.Background(), day)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			used.Requests += r.Requests
			used.InputTokens += r.InputTokens
			used.OutputTokens += r.OutputTokens
		}
	}
	api.mu.Lock()
	calls := int64(len(api.requests))
	api.mu.Unlock()
	if used.Requests != calls || used.InputTokens != 3*calls || used.OutputTokens != 2*calls {
		t.Errorf("stored usage %+v for %d model calls", used, calls)
	}
}

// watchDir returns the names of files created in dir from now on.
func watchDir(t testing.TB, dir string) <-chan string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 16)
	go func() {
		for ev := range w.Events {
			if ev.Op&(fsnotify.Create|fsnotify.Write) != 0 {
				out <- ev.Name
			}
		}
	}()
	return out
}

// sendIPC sends an IPC request over a group's agent socket, as that group's agent does.
func sendIPC(t testing.TB, work, folder, body string) runproto.IPCResponse {
	t.Helper()
	sock := filepath.Join(work, "data", "agents", folder, agentsock.SocketName)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Post("http://agent"+runproto.PathIPC, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out runproto.IPCResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
