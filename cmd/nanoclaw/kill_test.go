package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// procHost is a host running as its own process, so that it can be killed with SIGKILL.
type procHost struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// buildBinary builds the nanoclaw command into dir.
func buildBinary(t testing.TB, dir string) string {
	t.Helper()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "nanoclaw")
	// Built as `make binaries` builds it, so that what is measured is what ships.
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/nanoclaw")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startProc runs `nanoclaw run` as a child process, logging to work/host-<n>.log.
func startProc(t testing.TB, bin, work string, vars map[string]string, n int) *procHost {
	t.Helper()
	logf, err := os.Create(filepath.Join(work, "host-"+string(rune('0'+n))+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run")
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+h)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &procHost{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("host %d log:\n%s", n, b)
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *procHost) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("killed host did not exit")
	}
}

// TestHostSurvivesSIGKILL kills the host while an agent is answering a message and while a
// scheduled task runs, then starts a new host: the message is answered exactly once, and
// the task does not fire again.
func TestHostSurvivesSIGKILL(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	bin := buildBinary(t, t.TempDir())
	if out, code := cli(t, work, vars, "groups", "add", "--jid", "local:family", "--folder", "family", "--no-trigger-required"); code != 0 {
		t.Fatalf("groups add: %s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	host1 := startProc(t, bin, work, vars, 1)
	main := dialChat(t, ctx, work, "local:main")
	// A once task for family, due now; its model call is held, like the message's.
	when := time.Now().UTC().Format("2006-01-02T15:04:05")
	if resp := sendIPC(t, work, "main", `{"type":"schedule_task","taskId":"task-kill-1","prompt":"hold-me task","schedule_type":"once","schedule_value":"`+when+`","targetJid":"local:family"}`); !resp.OK {
		t.Fatalf("schedule: %+v", resp)
	}
	main.say("hold-me please")
	seen := map[string]bool{}
	for len(seen) < 2 {
		r := api.next(t, 3*time.Minute)
		switch {
		case strings.Contains(r.Last, "hold-me task"):
			seen["task"] = true
		case strings.Contains(r.Last, "hold-me please"):
			seen["message"] = true
		}
	}
	host1.kill(t)
	api.Release()

	startProc(t, bin, work, vars, 2)
	main = dialChat(t, ctx, work, "local:main")
	if got := main.reply(3 * time.Minute); got != "reply: hold-me please" {
		t.Fatalf("after the restart: reply %q", got)
	}
	main.noReply(5 * time.Second)

	api.mu.Lock()
	var taskCalls, msgCalls int
	for _, r := range api.requests {
		if strings.Contains(r.Last, "hold-me task") {
			taskCalls++
		}
		if strings.Contains(r.Last, "hold-me please") {
			msgCalls++
		}
	}
	all := fmtRequests(api.requests)
	api.mu.Unlock()
	if taskCalls != 1 || msgCalls != 2 {
		t.Fatalf("model calls: task %d (want 1: never refired), message %d (want 2: retried once after the kill)\n%s", taskCalls, msgCalls, all)
	}
	st, err := store.Open(ctx, filepath.Join(work, "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	task, ok, err := st.Task(ctx, "task-kill-1")
	if err != nil || !ok || task.NextRun != "" || task.Status != store.TaskCompleted || !strings.Contains(task.LastResult, "interrupted") {
		t.Fatalf("task after the kill: %+v %v %v", task, ok, err)
	}
}
