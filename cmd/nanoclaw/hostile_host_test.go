package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// hostileHost is one host under attack: run as root in this process, or as an
// unprivileged user in a child process.
type hostileHost struct {
	lay      hostileLayout
	api      *hostileAPI
	vars     map[string]string
	hostUID  int // 0: this process
	agentUID int
	log      hostLog
	bin      string
	cred     *syscall.Credential
	stop     func()
	chats    map[string]*chatClient
	pings    int
}

// startHostileHost lays out a project and starts its host: in this process (hostUID 0), or
// as a child process of user hostUID.
func startHostileHost(t *testing.T, d *sandbox.Docker, image string, hostUID int) *hostileHost {
	t.Helper()
	agentUID := hostUID // agentfs.OwnerFor: a root host runs agents as 1000, anyone else as itself
	if hostUID == 0 {
		agentUID = os.Getuid()
	}
	if agentUID == 0 {
		agentUID = 1000
	}
	h := &hostileHost{hostUID: hostUID, agentUID: agentUID, chats: map[string]*chatClient{}}
	h.lay = newHostileLayout(t, d, hostUID, agentUID)
	api, url := newHostileAPI(t)
	h.api = api
	h.vars = hostEnv(h.lay.work, url)
	h.vars["NANOCLAW_CONFIG_DIR"] = h.lay.config
	h.vars["NANOCLAW_PLUGIN_CACHE"] = h.lay.cache
	h.vars["CONTAINER_IMAGE"] = image
	h.vars["IDLE_TIMEOUT"] = "1000" // every attack after the first runs in a fresh container
	h.vars["LOG_LEVEL"] = "debug"
	if hostUID != 0 {
		h.bin = buildBinary(t, h.toolsDir(t))
		h.cred = &syscall.Credential{Uid: uint32(hostUID), Gid: uint32(hostUID), Groups: dockerGroup(t)}
	}
	for _, g := range [][]string{
		{"--jid", "local:evil", "--folder", "evil", "--name", "Evil", "--no-trigger-required"},
		{"--jid", "local:chatty", "--folder", "chatty", "--name", "Chatty", "--no-trigger-required"},
	} {
		if out, code := h.cli(t, append([]string{"groups", "add"}, g...)...); code != 0 {
			t.Fatalf("groups add %v: %s", g, out)
		}
	}
	if hostUID == 0 {
		stop, logs := startHost(t, h.lay.work, h.vars)
		h.stop, h.log = stop, logs
	} else {
		h.startChild(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, jid := range []string{"local:main", "local:evil", "local:chatty"} {
		h.chats[jid] = dialChat(t, ctx, h.lay.work, jid)
	}
	return h
}

// toolsDir holds the child host's binary, where the unprivileged user can run it.
func (h *hostileHost) toolsDir(t testing.TB) string {
	dir := filepath.Join(h.lay.base, "tools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dockerGroup is the group owning the engine's socket, which the unprivileged host joins.
func dockerGroup(t testing.TB) []uint32 {
	fi, err := os.Stat("/var/run/docker.sock")
	if err != nil {
		t.Skipf("the unprivileged host needs /var/run/docker.sock: %v", err)
	}
	return []uint32{fi.Sys().(*syscall.Stat_t).Gid}
}

func (h *hostileHost) childEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
	for k, v := range h.vars {
		env = append(env, k+"="+v)
	}
	if dh := os.Getenv("DOCKER_HOST"); dh != "" {
		env = append(env, "DOCKER_HOST="+dh)
	}
	return env
}

// startChild runs `nanoclaw run` as the unprivileged user; SIGTERM stops it.
func (h *hostileHost) startChild(t *testing.T) {
	t.Helper()
	logPath := filepath.Join(h.lay.base, "host.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "run")
	cmd.Dir, cmd.Env = h.lay.work, h.childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: h.cred}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	h.log = fileLog{path: logPath}
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the unprivileged host exited: %v", err)
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Error("the unprivileged host did not stop within a minute")
		}
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("host log:\n%s", h.log.String())
		}
	})
}

// cli runs a nanoclaw subcommand as the host's user; it fails the test if the command
// does not finish within a minute (a host touching a FIFO would hang it).
func (h *hostileHost) cli(t testing.TB, args ...string) (string, int) {
	t.Helper()
	if h.hostUID == 0 {
		type res struct {
			out  string
			code int
		}
		ch := make(chan res, 1)
		go func() { out, code := cli(t, h.lay.work, h.vars, args...); ch <- res{out, code} }()
		select {
		case r := <-ch:
			return r.out, r.code
		case <-time.After(time.Minute):
			t.Fatalf("nanoclaw %v did not finish within a minute", args)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Dir, cmd.Env = h.lay.work, h.childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: h.cred}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("nanoclaw %v did not finish within a minute", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// chat is the open connection to a local chat, reporting failures to t.
func (h *hostileHost) chat(t testing.TB, jid string) *chatClient {
	c, ok := h.chats[jid]
	if !ok {
		t.Fatalf("no chat %s is open", jid)
	}
	c.t = t
	return c
}

// dial opens a chat for a group registered during the suite; it lives as long as parent.
func (h *hostileHost) dial(parent testing.TB, jid string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h.chats[jid] = dialChat(parent, ctx, h.lay.work, jid)
}

// play has the agent of chat jid run script name (its steps as tool calls) and returns the
// tool results. The run must take exactly one model request per step plus the last: an
// agent that loops fails here.
func (h *hostileHost) play(t testing.TB, jid, name string, steps ...step) []string {
	t.Helper()
	h.api.script(name, steps...)
	c := h.chat(t, jid)
	c.say("run " + name)
	if got := c.reply(90 * time.Second); got != "done "+name {
		t.Fatalf("%s answered %q to %s", jid, got, name)
	}
	if n := h.api.runRequests(name); n != len(steps)+1 {
		t.Errorf("%s took %d model requests, want %d", name, n, len(steps)+1)
	}
	return h.api.resultsOf(name)
}

// ping checks that the host still serves: a plain message in the main chat is answered.
func (h *hostileHost) ping(t testing.TB) {
	t.Helper()
	h.pings++
	text := fmt.Sprintf("ping %d", h.pings)
	main := h.chat(t, "local:main")
	main.say(text)
	if got := main.reply(time.Minute); got != "reply: "+text {
		t.Fatalf("main answered %q to %q", got, text)
	}
}

// ended counts the group's finished runs in the host log.
func (h *hostileHost) ended(folder string) int {
	return strings.Count(h.log.String(), "agent run ended: group="+folder+" ")
}

// waitIdle waits until every run of the group that the host started has ended, so that
// the group's next message starts a fresh container (and the host prepares its folders).
func (h *hostileHost) waitIdle(t testing.TB, folder string) {
	t.Helper()
	started := strings.Count(h.log.String(), "agent run: group="+folder+" ")
	h.log.waitFor(t, "agent run ended: group="+folder+" ", started, 2*time.Minute)
}

var runIDInLog = regexp.MustCompile(`agent run: group=(\S+) .*?run=(run-[0-9]+-[a-z0-9]+)`)

// currentRun is the id of the group's latest run, from the host log.
func (h *hostileHost) currentRun(folder string) string {
	id := ""
	for _, m := range runIDInLog.FindAllStringSubmatch(h.log.String(), -1) {
		if m[1] == folder {
			id = m[2]
		}
	}
	return id
}

// snap records the host's files outside every container mount: the project (minus what
// agents or the host's own bookkeeping legitimately change), the victim directory and the
// config directory.
func (h *hostileHost) snap(t testing.TB) map[string]fileState {
	t.Helper()
	roots := map[string]string{"project": h.lay.work, "victim": h.lay.victim, "config": h.lay.config}
	return snapshot(t, roots, func(label, rel string) snapRule {
		if label != "project" {
			return snapFull
		}
		parts := strings.Split(rel, "/")
		switch {
		case rel == "store/nanoclaw.db":
			return snapMeta // the host's database changes with every message
		case parts[0] == "store" && len(parts) > 1:
			return snapSkip // its -wal and -shm come and go
		case parts[0] == "groups" && len(parts) == 2,
			parts[0] == "data" && len(parts) == 3 && (parts[1] == "sessions" || parts[1] == "logs"):
			return snapKind // an agent's own directory, or the host's run logs
		case parts[0] == "groups" && len(parts) > 2,
			parts[0] == "data" && len(parts) > 3 && (parts[1] == "sessions" || parts[1] == "logs"):
			return snapSkip
		}
		return snapFull
	})
}

// registered excuses what registering a group adds: its folder, session store, run log
// directory and agent socket.
func registered(key string, st fileState) bool {
	rel, ok := strings.CutPrefix(key, "project:")
	if !ok {
		return false
	}
	parts := strings.Split(rel, "/")
	switch {
	case len(parts) == 2 && (parts[0] == "groups") && st.Kind == "dir":
		return true
	case len(parts) == 3 && parts[0] == "data" && (parts[1] == "sessions" || parts[1] == "logs" || parts[1] == "agents") && st.Kind == "dir":
		return true
	case len(parts) == 2 && parts[0] == "data" && (parts[1] == "sessions" || parts[1] == "logs") && st.Kind == "dir":
		return true
	case len(parts) == 4 && parts[0] == "data" && parts[1] == "agents" && parts[3] == "agent.sock" && st.Kind == "socket":
		return true
	}
	return false
}

// attack runs one attack as a subtest and then checks that it changed no host file
// outside the containers' mounts and that the host still answers the main chat.
func (h *hostileHost) attack(t *testing.T, name string, fn func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		before := h.snap(t)
		fn(t)
		if d := diffSnapshots(before, h.snap(t), registered); len(d) > 0 {
			t.Errorf("host files changed by the attack:\n  %s", strings.Join(d, "\n  "))
		}
		h.ping(t)
	})
}

// socketDo sends one request to a group's agent socket from the host side.
func socketDo(work, folder, method, path, body string) (int, string, error) {
	c := socketClient(filepath.Join(work, "data", "agents", folder, "agent.sock"))
	req, err := newRequest(method, path, body)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}

// waitFile waits until path exists, woken by changes in its directory.
func waitFile(t testing.TB, path string, within time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(within)
	for {
		if _, err := os.Lstat(path); err == nil {
			return
		}
		select {
		case <-w.Events:
		case err := <-w.Errors:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("%s did not appear within %v", path, within)
		}
	}
}
