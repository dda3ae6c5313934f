package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// The hostile-agent suite's helpers: the attack image (the agent image plus sockcat), the
// scripted model, the project and victim layout, a host run as root in this process or as
// an unprivileged user in a child process, and file-system snapshots.

var hostileImageOnce struct {
	once sync.Once
	tag  string
	err  error
}

// hostileImage is the minimal agent image plus /bin/sockcat (testdata/sockcat), built
// FROM the e2e image with an in-memory context; no registry is involved.
func hostileImage(t testing.TB, d *sandbox.Docker) string {
	t.Helper()
	hostileImageOnce.once.Do(func() {
		hostileImageOnce.tag, hostileImageOnce.err = buildHostileImage(d.Client(), e2eImage())
	})
	if hostileImageOnce.err != nil {
		t.Fatal(hostileImageOnce.err)
	}
	return hostileImageOnce.tag
}

func buildHostileImage(c *client.Client, base string) (string, error) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "sockcat")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "sockcat")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/nanoclaw/testdata/sockcat")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build sockcat: %v\n%s", err, out)
	}
	sockcat, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(base+"\x00"), sockcat...))
	tag := "nanoclaw-agent-hostile:" + hex.EncodeToString(sum[:6])
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM " + base + "\nCOPY sockcat /bin/sockcat\n")},
		{"sockcat", 0o755, sockcat},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	res, err := c.ImageBuild(context.Background(), &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("build the hostile image: %w", err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		return "", fmt.Errorf("build the hostile image: %s", out)
	}
	return tag, nil
}

// toolCall is one tool_use block the scripted model answers with.
type toolCall struct {
	Name  string
	Input map[string]any
}

// step makes a script's next tool call from the tool results so far.
type step func(results []string) toolCall

// bash is a step running a fixed command with the agent's bash tool.
func bash(cmd string) step {
	return func([]string) toolCall { return toolCall{Name: "bash", Input: map[string]any{"command": cmd}} }
}

// tool is a step calling one of the runner's tools (its IPC tools) with fixed input.
func tool(name string, input map[string]any) step {
	return func([]string) toolCall { return toolCall{Name: name, Input: input} }
}

// hostileAPI is a scripted Messages API. A prompt whose last message is "run NAME" plays
// script NAME: one tool call per step, each answered by the real runner in a real
// container, then the text "done NAME"; the tool results are kept for the test. Any other
// prompt is answered "reply: " + its last message. Every request is counted per group.
type hostileAPI struct {
	mu       sync.Mutex
	scripts  map[string][]step
	results  map[string][]string
	bodies   []string
	perGroup map[string]int
	perRun   map[string]int // model requests per script name
	stepped  chan string    // "NAME#i" as step i is handed out (never blocks)
}

func newHostileAPI(t testing.TB) (*hostileAPI, string) {
	a := &hostileAPI{scripts: map[string][]step{}, results: map[string][]string{}, perGroup: map[string]int{},
		perRun: map[string]int{}, stepped: make(chan string, 256)}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL
}

// script registers the steps of NAME (replacing an earlier script of that name).
func (a *hostileAPI) script(name string, steps ...step) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scripts[name] = steps
	delete(a.results, name)
}

// resultsOf returns the tool results of NAME's last complete run.
func (a *hostileAPI) resultsOf(name string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.results[name]
}

func (a *hostileAPI) requests(group string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.perGroup[group]
}

func (a *hostileAPI) runRequests(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.perRun[name]
}

// allBodies is every request body the model saw.
func (a *hostileAPI) allBodies() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bodies...)
}

// waitStep waits until step i of NAME has been handed to the runner.
func (a *hostileAPI) waitStep(t testing.TB, name string, i int, within time.Duration) {
	t.Helper()
	want := fmt.Sprintf("%s#%d", name, i)
	deadline := time.After(within)
	for {
		select {
		case s := <-a.stepped:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("step %s never handed out within %v", want, within)
		}
	}
}

var (
	groupInSystem = regexp.MustCompile(`for the chat group "([^"]+)"`)
	runCommand    = regexp.MustCompile(`^run ([a-z0-9-]+)$`)
)

type apiBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Content json.RawMessage `json:"content"`
}

func blocksOf(raw json.RawMessage) []apiBlock {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []apiBlock{{Type: "text", Text: s}}
	}
	var bs []apiBlock
	_ = json.Unmarshal(raw, &bs)
	return bs
}

// resultText is a tool_result's text, with the PTY's carriage returns dropped.
func resultText(b apiBlock) string {
	var sb strings.Builder
	for _, c := range blocksOf(b.Content) {
		sb.WriteString(c.Text)
	}
	return strings.ReplaceAll(sb.String(), "\r", "")
}

func (a *hostileAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		System []struct {
			Text string `json:"text"`
		} `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	group := ""
	for _, s := range req.System {
		if m := groupInSystem.FindStringSubmatch(s.Text); m != nil {
			group = m[1]
		}
	}
	// The turn is what follows the last user message carrying text (a prompt or a
	// follow-up); its assistant messages are the steps taken, its tool results their output.
	prompt, start := "", 0
	for i, m := range req.Messages {
		if m.Role != "user" {
			continue
		}
		for _, b := range blocksOf(m.Content) {
			if b.Type == "text" {
				prompt, start = b.Text, i
			}
		}
	}
	steps, results := 0, []string(nil)
	for _, m := range req.Messages[start+1:] {
		if m.Role == "assistant" {
			steps++
			continue
		}
		for _, b := range blocksOf(m.Content) {
			if b.Type == "tool_result" {
				results = append(results, resultText(b))
			}
		}
	}
	last := strings.TrimSpace(lastMessageText(prompt))
	name := ""
	if m := runCommand.FindStringSubmatch(last); m != nil {
		name = m[1]
	}
	a.mu.Lock()
	a.bodies = append(a.bodies, string(body))
	a.perGroup[group]++
	a.perRun[name]++
	script, known := a.scripts[name]
	var call *toolCall
	text := "reply: " + last
	switch {
	case name != "" && !known:
		text = "no script " + name
	case name != "" && steps < len(script):
		c := script[steps](results)
		call = &c
	case name != "":
		a.results[name] = results
		text = "done " + name
	}
	a.mu.Unlock()
	var block map[string]any
	stop := "end_turn"
	if call != nil {
		select {
		case a.stepped <- fmt.Sprintf("%s#%d", name, steps):
		default:
		}
		block = map[string]any{"type": "tool_use", "id": fmt.Sprintf("tu_%s_%d", strings.ReplaceAll(name, "-", "_"), steps), "name": call.Name, "input": call.Input}
		stop = "tool_use"
	} else {
		block = map[string]any{"type": "text", "text": text}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "msg_hostile", "type": "message", "role": "assistant", "model": "claude-test",
		"content": []any{block}, "stop_reason": stop, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 3, "output_tokens": 2}})
}

// hostileLayout is one run's directories: base holds the project (w), the config directory,
// a victim directory of decoy secrets outside the project, and directories an allowlist
// may grant.
type hostileLayout struct {
	base, work, config, victim, allowed, cache string
	secrets                                    []string // decoy contents no agent may ever see
}

// newHostileLayout makes the directories of a run whose host is a child process of user
// hostUID (0: the host runs in this process) and whose agents run as agentUID.
func newHostileLayout(t *testing.T, d *sandbox.Docker, hostUID, agentUID int) hostileLayout {
	t.Helper()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "nch-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	l := hostileLayout{base: base, work: filepath.Join(base, "w"), config: filepath.Join(base, "config"),
		victim: filepath.Join(base, "victim"), allowed: filepath.Join(base, "allowed"), cache: plugintest.CacheDir()}
	t.Cleanup(func() {
		_, _ = d.RemoveManaged(context.Background(), sandbox.Instance(l.work))
		_ = os.RemoveAll(base)
	})
	for _, p := range []string{"router", "ipcauthz", "mountguard"} {
		installPlugin(t, root, "plugins/"+p, filepath.Join(l.work, "plugins"), p)
	}
	copyTemplates(t, root, l.work)
	tag := rand.Text()[:10]
	secret := func(s string) string { s += "-" + tag; l.secrets = append(l.secrets, s); return s }
	// The project's own files an agent must never change or see through a mount.
	mustWrite(t, filepath.Join(l.work, "bin", "nanoclaw"), []byte("#!/bin/sh\necho fake host binary\n"), 0o755)
	mustWrite(t, filepath.Join(l.work, ".git", "config"), []byte("[core]\n\trepositoryformatversion = 0\n"), 0o644)
	mustWrite(t, filepath.Join(l.work, ".env"), []byte("NANOCLAW_DECOY="+secret("decoy-dotenv")+"\n"), 0o644)
	// The victim: decoy secrets outside the project, one of them root's alone.
	mustWrite(t, filepath.Join(l.victim, ".ssh", "id_rsa"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"+secret("decoy-ssh-key")+"\n"), 0o600)
	mustWrite(t, filepath.Join(l.victim, "etc-shadow"), []byte("root:"+secret("decoy-shadow")+":19000:0:99999:7:::\n"), 0o640)
	mustWrite(t, filepath.Join(l.victim, "root-only"), []byte(secret("decoy-root-only")+"\n"), 0o600)
	mustWrite(t, filepath.Join(l.victim, "notes.txt"), []byte("readable by anyone: "+secret("decoy-notes")+"\n"), 0o644)
	// Directories an allowlist grants: a read-write sibling, a read-only root nested in the
	// read-write base, and a directory another group may share.
	for _, dir := range []string{"rw", "ro/sub", "rw/shared"} {
		if err := os.MkdirAll(filepath.Join(l.allowed, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(l.work, "store"), filepath.Join(l.allowed, "innocent-link")); err != nil {
		t.Fatal(err)
	}
	list := map[string]any{
		"allowedRoots": []any{
			map[string]any{"path": base, "allowReadWrite": true, "description": "contains the project"},
			map[string]any{"path": filepath.Join(l.allowed, "ro"), "allowReadWrite": false},
		},
		"blockedPatterns": []any{},
		"nonMainReadOnly": false,
	}
	b, _ := json.Marshal(list)
	mustWrite(t, filepath.Join(l.config, "mount-allowlist.json"), b, 0o644)
	if hostUID != 0 {
		// An unprivileged host owns its project, configuration and plugin cache (a copy of
		// the shared one, so nothing is compiled again).
		l.cache = filepath.Join(base, "cache")
		if out, err := exec.Command("cp", "-a", plugintest.CacheDir()+"/.", l.cache).CombinedOutput(); err != nil {
			if err := os.MkdirAll(l.cache, 0o700); err != nil {
				t.Fatalf("plugin cache: %v: %s", err, out)
			}
		}
		if err := os.Chmod(l.cache, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{l.work, l.config, l.cache} {
			chownR(t, p, hostUID, hostUID)
		}
	}
	if agentUID != 0 {
		chownR(t, l.allowed, agentUID, agentUID)
	}
	return l
}

func mustWrite(t testing.TB, path string, b []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chownR(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fileState is what a snapshot records of one path.
type fileState struct {
	Kind     string
	Mode     fs.FileMode
	UID, GID uint32
	Size     int64
	Sum      string
	Link     string
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	}
	return "other"
}

// How much of a path a snapshot records.
type snapRule int

const (
	snapFull snapRule = iota // kind, mode, owner, size, content hash, link target
	snapMeta                 // kind, mode and owner: content that legitimately changes
	snapKind                 // kind only, and nothing below: an agent's own directory
	snapSkip                 // nothing, and nothing below
)

// snapshot records every path under each root (label → directory) that rule lets it.
func snapshot(t testing.TB, roots map[string]string, rule func(label, rel string) snapRule) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for label, dir := range roots {
		err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			r := rule(label, filepath.ToSlash(rel))
			if r == snapSkip {
				if de.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			st := fileState{Kind: kindOf(fi.Mode())}
			if r != snapKind {
				sys := fi.Sys().(*syscall.Stat_t)
				st.Mode, st.UID, st.GID = fi.Mode(), sys.Uid, sys.Gid
			}
			if st.Kind == "symlink" {
				st.Link, _ = os.Readlink(p)
			}
			if r == snapFull && st.Kind == "file" {
				st.Size = fi.Size()
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				s := sha256.Sum256(b)
				st.Sum = hex.EncodeToString(s[:8])
			}
			out[label+":"+filepath.ToSlash(rel)] = st
			if r == snapKind && de.IsDir() && p != dir {
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			t.Fatalf("snapshot of %s: %v", dir, err)
		}
	}
	return out
}

// diffSnapshots lists what changed; allowNew excuses a path that appeared.
func diffSnapshots(before, after map[string]fileState, allowNew func(key string, st fileState) bool) []string {
	var d []string
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("removed %s (%+v)", k, b))
		case a != b:
			d = append(d, fmt.Sprintf("changed %s: %+v → %+v", k, b, a))
		}
	}
	for k, a := range after {
		if _, ok := before[k]; !ok && (allowNew == nil || !allowNew(k, a)) {
			d = append(d, fmt.Sprintf("appeared %s (%+v)", k, a))
		}
	}
	sort.Strings(d)
	return d
}

// hostLog is a run's host log, in memory (a host in this process) or in a file.
type hostLog interface {
	String() string
	// waitFor waits until the log holds n occurrences of sub.
	waitFor(t testing.TB, sub string, n int, within time.Duration)
}

func (l *logBuffer) waitFor(t testing.TB, sub string, n int, within time.Duration) {
	t.Helper()
	l.waitCount(t, sub, n, within)
}

// fileLog is the log file a child host writes.
type fileLog struct{ path string }

func (f fileLog) String() string {
	b, _ := os.ReadFile(f.path)
	return string(b)
}

func (f fileLog) waitFor(t testing.TB, sub string, n int, within time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(f.path); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(within)
	for strings.Count(f.String(), sub) < n {
		select {
		case <-w.Events:
		case err := <-w.Errors:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("%d × %q not logged within %v", n, sub, within)
		}
	}
}
