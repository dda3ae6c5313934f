package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/hostlock"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// TestSecondHostRefuses: with a host running an agent, a second `nanoclaw run` in the same
// project exits 1 with one line naming the first host's pid, and touches nothing: the first
// host's container keeps running (same id) and answers, its sockets and store stay.
func TestSecondHostRefuses(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	_, logs := startHost(t, work, vars)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chat := dialChat(t, ctx, work, "local:main")
	chat.say("hold-me please")
	api.next(t, 2*time.Minute) // the agent's container is running, its model request held

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
	for _, sock := range []string{"data/chat.sock", "data/nanoclaw.sock", "store/" + hostlock.FileName} {
		if _, err := os.Stat(filepath.Join(work, sock)); err != nil {
			t.Fatalf("%s: %v", sock, err)
		}
	}
	if st, code := cli(t, work, vars, "status"); code != 0 {
		t.Fatalf("the first host stopped answering: %d %s", code, st)
	}
	api.Release()
	if got := chat.reply(time.Minute); got != "reply: hold-me please" {
		t.Fatalf("the held run's reply: %q", got)
	}
}
