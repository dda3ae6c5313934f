package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/hostlock"
	"github.com/nanoclaw/nanoclaw-go/host/status"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// TestNewcomerHost runs one real host (a host start is the costly part) and checks, with an
// agent's container running, what a newcomer meets (issue 15):
//   - status --json holds its conventions (every key camelCase, no null, [] for empty lists)
//     and says the version and uptime, the local channel connected and WhatsApp needing
//     pairing, the group's running container, the scheduled task's next run;
//   - a second `nanoclaw run` exits 1 with one line naming this host's pid and touches
//     nothing: the container keeps running (same id) and answers, sockets and lock stay;
//   - `nanoclaw chat` refuses an unregistered chat at once (exit 1) with the command that
//     registers it; in a registered one it prints a banner and a typing line on stderr and
//     the reply labelled with the assistant's name on stdout; a host that stops ends a
//     waiting client with a clear line and exit 1.
func TestNewcomerHost(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	getenv := func(k string) string { return vars[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(work, "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	if err := st.CreateTask(ctx, store.Task{ID: "daily-news", GroupFolder: "main", ChatJID: "local:main", Prompt: "the news",
		ScheduleType: "cron", ScheduleValue: "0 9 * * *", NextRun: store.Timestamp(next)}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	stop, logs := startHost(t, work, vars)
	chat := dialChat(t, ctx, work, "local:main")
	chat.say("hold-me while I look")
	api.next(t, 2*time.Minute) // the agent's container is running, its model request held

	t.Run("status", func(t *testing.T) {
		out, code := cli(t, work, vars, "status", "--json")
		if code != 0 {
			t.Fatalf("status --json exited %d:\n%s", code, out)
		}
		problems, err := status.ShapeProblems([]byte(out))
		if err != nil || len(problems) > 0 {
			t.Fatalf("status --json breaks its conventions (%v):\n%s\n%s", err, strings.Join(problems, "\n"), out)
		}
		var doc status.Doc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Version == "" || doc.StartedAt.IsZero() || doc.UptimeSeconds < 0 {
			t.Errorf("version %q, started %v, uptime %d", doc.Version, doc.StartedAt, doc.UptimeSeconds)
		}
		states := map[string]channel.State{}
		for _, c := range doc.Channels {
			states[c.Name] = c.State
		}
		if states["local"] != channel.StateConnected || states["whatsapp"] != channel.StatePairingNeeded {
			t.Errorf("channel states %v", states)
		}
		var main *status.Group
		for i := range doc.Groups {
			if doc.Groups[i].Folder == "main" {
				main = &doc.Groups[i]
			}
		}
		if main == nil || main.Running == nil {
			t.Fatalf("main's running container missing: %+v", doc.Groups)
		}
		if len(doc.Tasks) != 1 || doc.Tasks[0].ID != "daily-news" || doc.Tasks[0].NextRun == "" {
			t.Errorf("tasks %+v", doc.Tasks)
		}
		text, code := cli(t, work, vars, "status")
		for _, want := range []string{"nanoclaw " + doc.Version, "pairing needed", "daily-news", "since "} {
			if code != 0 || !strings.Contains(text, want) {
				t.Errorf("status (%d) lacks %q:\n%s", code, want, text)
			}
		}
	})

	t.Run("second host refuses", func(t *testing.T) {
		containers := func() []string {
			t.Helper()
			filters := make(client.Filters).Add("label", sandbox.LabelManaged+"=true", sandbox.LabelInstance+"="+sandbox.Instance(work))
			list, err := d.Client().ContainerList(ctx, client.ContainerListOptions{Filters: filters})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range list.Items {
				ids = append(ids, c.ID)
			}
			return ids
		}
		before := containers()
		if len(before) != 1 {
			t.Fatalf("running agent containers: %v, want 1", before)
		}
		began := time.Now()
		out, code := cli(t, work, vars, "run")
		t.Logf("the second host refused in %v", time.Since(began))
		if code != 1 {
			t.Fatalf("second host exited %d, want 1:\n%s", code, out)
		}
		want := "pid " + strconv.Itoa(os.Getpid()) // the first host runs in this process
		if !strings.Contains(out, want) || !strings.Contains(out, "already running") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Fatalf("refusal should be one line naming %q:\n%s", want, out)
		}
		if strings.Contains(logs.String(), "orphaned") {
			t.Fatalf("orphan clean-up ran:\n%s", logs.String())
		}
		if after := containers(); len(after) != 1 || after[0] != before[0] {
			t.Fatalf("the first host's container changed: %v → %v", before, after)
		}
		for _, f := range []string{"data/chat.sock", "data/nanoclaw.sock", "store/" + hostlock.FileName} {
			if _, err := os.Stat(filepath.Join(work, f)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		if st, code := cli(t, work, vars, "status"); code != 0 {
			t.Fatalf("the first host stopped answering: %d %s", code, st)
		}
	})
	api.Release()
	if got := chat.reply(time.Minute); got != "reply: hold-me while I look" {
		t.Fatalf("the held run's reply: %q", got)
	}

	t.Run("chat", func(t *testing.T) {
		var out, errOut bytes.Buffer
		began := time.Now()
		code := dispatch(ctx, []string{"chat", "--chat", "local:nope"}, env{stdin: strings.NewReader("hello?\n"), stdout: &out, stderr: &errOut, getenv: getenv, workdir: work})
		if code != 1 || !strings.Contains(errOut.String(), "nanoclaw groups add --jid local:nope --folder nope") || out.Len() != 0 {
			t.Fatalf("unregistered chat: exit %d\nstdout %q\nstderr %q", code, out.String(), errOut.String())
		}
		t.Logf("the unregistered chat was refused in %v", time.Since(began))

		out.Reset()
		errOut.Reset()
		code = dispatch(ctx, []string{"chat", "--replies", "1", "--name", "alice"}, env{stdin: strings.NewReader("hello there\n"), stdout: &out, stderr: &errOut, getenv: getenv, workdir: work})
		if code != 0 || out.String() != "Andy: reply: hello there\n\n" {
			t.Fatalf("chat: exit %d\nstdout %q\nstderr %q", code, out.String(), errOut.String())
		}
		for _, want := range []string{"Chatting in local:main (Local chat) with Andy.", "Ctrl-D or Ctrl-C to quit", "… Andy is typing"} {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
			}
		}

		// A client waiting on the host when it stops.
		pr, pw := io.Pipe()
		defer pw.Close()
		info := &logBuffer{wrote: make(chan struct{}, 1)}
		done := make(chan int, 1)
		go func() {
			done <- dispatch(ctx, []string{"chat"}, env{stdin: pr, stdout: io.Discard, stderr: info, getenv: getenv, workdir: work})
		}()
		info.waitCount(t, "Chatting in", 1, time.Minute)
		stop()
		select {
		case code := <-done:
			if code != 1 || !strings.Contains(info.String(), "the nanoclaw host stopped; the chat ended") {
				t.Fatalf("after the host stopped: exit %d\n%s", code, info.String())
			}
		case <-time.After(time.Minute):
			t.Fatal("the chat client outlived the host")
		}
	})
}
