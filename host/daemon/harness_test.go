package daemon

// The harness runs a real Daemon — store, queue, scheduler, IPC watcher, credential proxy —
// with three fakes at its edges: a container runtime whose "containers" are scripted by the
// test, a chat channel that records what it is asked to do, and the default policies
// compiled natively instead of as plugins. Nothing here sleeps to wait for an event: every
// wait is on a channel, with a deadline.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/ipc"
	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/queue"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/router/routepolicy"
	"github.com/nanoclaw/nanoclaw-go/sandbox"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// waitTimeout bounds every wait: generous, since -race on two shared cores is slow.
const waitTimeout = 15 * time.Second

// recorder is an append-only list that can be waited on: wait returns as soon as the list
// satisfies a condition, re-checking on every append.
type recorder[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{}
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

func (r *recorder[T]) wait(t testing.TB, what string, ok func([]T) bool) []T {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		items := slices.Clone(r.items)
		if ok(items) {
			r.mu.Unlock()
			return items
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; have %+v", waitTimeout, what, items)
		}
	}
}

// ---- the scripted container runtime ----

// fakeRuntime starts fakeRuns: each Start is one container, driven by the test.
type fakeRuntime struct {
	mu       sync.Mutex
	closing  bool
	startErr error
	runs     recorder[*fakeRun]
}

func (rt *fakeRuntime) Ping(context.Context) error { return nil }

func (rt *fakeRuntime) RemoveManaged(context.Context, string) (int, error) { return 0, nil }

func (rt *fakeRuntime) Start(_ context.Context, spec sandbox.Spec) (*sandbox.Process, error) {
	rt.mu.Lock()
	if err := rt.startErr; err != nil {
		rt.startErr = nil
		rt.mu.Unlock()
		return nil, err
	}
	rt.mu.Unlock()
	r, p, err := newFakeRun(spec)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	closing := rt.closing
	rt.runs.add(r)
	rt.mu.Unlock()
	if closing {
		r.exit(137)
	}
	return p, nil
}

// failNextStart makes the next Start fail as an engine error would.
func (rt *fakeRuntime) failNextStart(err error) {
	rt.mu.Lock()
	rt.startErr = err
	rt.mu.Unlock()
}

// killAll ends every container, now and from now on (cleanup).
func (rt *fakeRuntime) killAll() {
	rt.mu.Lock()
	rt.closing = true
	all := rt.runs.all()
	rt.mu.Unlock()
	for _, r := range all {
		r.exit(137)
	}
}

// fakeRun is one scripted agent container. It reads the run request from stdin, like the
// agent runner, then opens its run's input stream on the group's agent socket: follow-ups
// are acknowledged as they arrive (as the runner takes them into its next turn) and the
// next reply answers them, with the prompt.
type fakeRun struct {
	spec sandbox.Spec
	sock string // the agent socket's host path
	http *http.Client

	reqReady chan struct{}
	req      sandbox.RunRequest
	reqErr   error

	stdout, stderr *io.PipeWriter

	exitOnce sync.Once
	exited   chan struct{}
	code     int64
	stop     context.CancelFunc // ends the input stream

	inputMu    sync.Mutex
	deaf       bool             // reads no more input, as a runner on its way out
	unanswered []int64          // inputs taken in and not yet answered by a reply
	inputs     recorder[string] // the texts of follow-up messages, in arrival order
	closeOnce  sync.Once
	closeReq   chan struct{} // closed when the host asked the run to close
}

func newFakeRun(spec sandbox.Spec) (*fakeRun, *sandbox.Process, error) {
	r := &fakeRun{spec: spec, reqReady: make(chan struct{}), exited: make(chan struct{}),
		closeReq: make(chan struct{}), unanswered: []int64{runproto.PromptInput}}
	for _, m := range spec.Mounts {
		if m.Target == sandbox.PathSocket {
			r.sock = filepath.Join(m.Source, agentsock.SocketName)
		}
	}
	if r.sock == "" {
		return nil, nil, fmt.Errorf("spec %s has no %s mount", spec.Name, sandbox.PathSocket)
	}
	r.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.sock)
	}}}
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	stdinR, stdinW := io.Pipe()
	go func() {
		b, err := io.ReadAll(stdinR)
		if err == nil {
			err = json.Unmarshal(b, &r.req)
		}
		r.reqErr = err
		close(r.reqReady)
		if err == nil && r.req.RunID != "" {
			r.readInput(ctx)
		}
	}()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	r.stdout, r.stderr = outW, errW
	p := sandbox.NewProcess(spec.Name, stdinW, outR, errR,
		func() (int64, error) { <-r.exited; return r.code, nil },
		func(context.Context) error { r.exit(137); return nil })
	return r, p, nil
}

// readInput follows the run's input stream until it ends.
func (r *fakeRun) readInput(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+runproto.PathInput+"?run="+r.req.RunID, nil)
	resp, err := r.http.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f runproto.InputFrame
		if json.Unmarshal(sc.Bytes(), &f) != nil {
			continue
		}
		switch f.Type {
		case runproto.FrameClose:
			r.closeOnce.Do(func() { close(r.closeReq) })
		case runproto.FrameMessage:
			r.inputMu.Lock()
			deaf := r.deaf
			r.inputMu.Unlock()
			if deaf {
				continue
			}
			body, _ := json.Marshal(runproto.InputAck{Run: r.req.RunID, IDs: []int64{f.ID}})
			ack, err := r.http.Post("http://agent"+runproto.PathInputAck, "application/json", bytes.NewReader(body))
			if err != nil {
				continue
			}
			ack.Body.Close()
			if ack.StatusCode != http.StatusOK {
				r.inputs.add(fmt.Sprintf("ACK REFUSED %d", ack.StatusCode))
				continue
			}
			r.inputMu.Lock()
			r.unanswered = append(r.unanswered, f.ID)
			r.inputMu.Unlock()
			r.inputs.add(f.Text)
		}
	}
}

// stopReading makes the agent ignore input from now on, like a runner that has finished
// its last turn and is exiting.
func (r *fakeRun) stopReading() {
	r.inputMu.Lock()
	r.deaf = true
	r.inputMu.Unlock()
}

// ipc sends one IPC request over the group's socket, as the runner's tools do.
func (r *fakeRun) ipc(t testing.TB, body string) runproto.IPCResponse {
	t.Helper()
	resp, err := r.http.Post("http://agent"+runproto.PathIPC, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("ipc: %v", err)
	}
	defer resp.Body.Close()
	var out runproto.IPCResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("ipc answer: %v", err)
	}
	return out
}

// request waits for the run request the host wrote on stdin.
func (r *fakeRun) request(t testing.TB) sandbox.RunRequest {
	t.Helper()
	select {
	case <-r.reqReady:
	case <-time.After(waitTimeout):
		t.Fatalf("run %s: no request on stdin", r.spec.Name)
	}
	if r.reqErr != nil {
		t.Fatalf("run %s: bad request on stdin: %v", r.spec.Name, r.reqErr)
	}
	return r.req
}

func writeWithin(t testing.TB, w io.Writer, data string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := io.WriteString(w, data); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fake agent write: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("fake agent write blocked: nobody reads the container's output")
	}
}

// output prints one marker block on stdout.
func (r *fakeRun) output(t testing.TB, o sandbox.RunOutput) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	writeWithin(t, r.stdout, "some log noise\n"+sandbox.OutputStart+"\n"+string(b)+"\n"+sandbox.OutputEnd+"\n")
}

// reply prints a success block with result text (and a session id when not empty): it
// answers every input taken in since the last reply.
func (r *fakeRun) reply(t testing.TB, text, session string) {
	t.Helper()
	r.inputMu.Lock()
	inputs := r.unanswered
	r.unanswered = []int64{}
	r.inputMu.Unlock()
	r.output(t, sandbox.RunOutput{Status: "success", Result: &text, NewSessionID: session, Inputs: inputs})
}

// fail prints an error block without a result, as the runner does when a turn fails.
func (r *fakeRun) fail(t testing.TB, errText string) {
	t.Helper()
	r.output(t, sandbox.RunOutput{Status: "error", Error: errText})
}

// logErr writes to the container's stderr.
func (r *fakeRun) logErr(t testing.TB, text string) {
	t.Helper()
	writeWithin(t, r.stderr, text)
}

// exit ends the container with code (once; later calls do nothing).
func (r *fakeRun) exit(code int64) {
	r.exitOnce.Do(func() {
		_ = r.stdout.Close()
		_ = r.stderr.Close()
		r.stop()
		r.code = code
		close(r.exited)
	})
}

// closeWithin bounds the wait for a close request: well under the 10 s a task's container
// may stay silent, so a task container that is not closed on its result is noticed.
const closeWithin = 5 * time.Second

// waitClose waits for the host to ask the run to close.
func (r *fakeRun) waitClose(t testing.TB) {
	t.Helper()
	select {
	case <-r.closeReq:
	case <-time.After(closeWithin):
		t.Fatalf("run %s: not asked to close", r.spec.Name)
	}
}

// waitInputs waits for n follow-up messages.
func (r *fakeRun) waitInputs(t testing.TB, n int) []string {
	t.Helper()
	return r.inputs.wait(t, fmt.Sprintf("%d follow-ups", n), func(s []string) bool { return len(s) >= n })
}

// ---- the recording channel ----

type chanCall struct {
	Kind  string // send, typing, sync
	JID   string
	Text  string
	On    bool
	Quote string // a send that quotes: "<id>|<sender>|<text>" (quote_test.go)
}

// fakeChannel owns every "test:" chat.
type fakeChannel struct {
	calls recorder[chanCall]
	opts  channel.Options
}

func (c *fakeChannel) Name() string                     { return "test" }
func (c *fakeChannel) Connect(context.Context) error    { return nil }
func (c *fakeChannel) Disconnect(context.Context) error { return nil }
func (c *fakeChannel) OwnsJID(jid string) bool          { return strings.HasPrefix(jid, "test:") }
func (c *fakeChannel) MaxMessageLen() int               { return 0 }

func (c *fakeChannel) Send(_ context.Context, jid, text string) error {
	c.calls.add(chanCall{Kind: "send", JID: jid, Text: text})
	return nil
}

func (c *fakeChannel) SetTyping(_ context.Context, jid string, on bool) error {
	c.calls.add(chanCall{Kind: "typing", JID: jid, On: on})
	return nil
}

func (c *fakeChannel) SyncGroups(_ context.Context, force bool) error {
	c.calls.add(chanCall{Kind: "sync", On: force})
	return nil
}

// sends lists the texts sent to jid.
func (c *fakeChannel) sends(jid string) []string {
	var out []string
	for _, k := range c.calls.all() {
		if k.Kind == "send" && k.JID == jid {
			out = append(out, k.Text)
		}
	}
	return out
}

func countSends(calls []chanCall, jid string) int {
	n := 0
	for _, k := range calls {
		if k.Kind == "send" && k.JID == jid {
			n++
		}
	}
	return n
}

// waitSends waits until n texts were sent to jid and returns them.
func (c *fakeChannel) waitSends(t testing.TB, jid string, n int) []string {
	t.Helper()
	c.calls.wait(t, fmt.Sprintf("%d sends to %s", n, jid), func(k []chanCall) bool { return countSends(k, jid) >= n })
	return c.sends(jid)
}

// waitTypingOff waits for the typing indicator of jid to be switched off n times.
func (c *fakeChannel) waitTypingOff(t testing.TB, jid string, n int) {
	t.Helper()
	c.calls.wait(t, fmt.Sprintf("typing off %d times in %s", n, jid), func(k []chanCall) bool {
		got := 0
		for _, x := range k {
			if x.Kind == "typing" && x.JID == jid && !x.On {
				got++
			}
		}
		return got >= n
	})
}

// ---- the policies, natively ----

type noFacts struct{}

func (noFacts) Config() (protocol.ConfigDoc, bool) { return protocol.ConfigDoc{}, false }
func (noFacts) Log(string)                         {}

type groupFacts struct{ g *Groups }

func (f groupFacts) LookupGroup(jid string) (protocol.Group, bool) {
	return f.g.LookupGroup([]byte(jid))
}

// nativePolicy is the default route and IPC policies as plain Go, and a mount policy that
// allows any extra mount read-only.
type nativePolicy struct {
	route *routepolicy.Router
	ipc   *ipcpolicy.Authorizer
}

func newNativePolicy(g *Groups) *nativePolicy {
	return &nativePolicy{route: routepolicy.New(noFacts{}), ipc: ipcpolicy.New(groupFacts{g})}
}

func (p *nativePolicy) DecideRoute(_ context.Context, req *protocol.RouteRequest) plugin.RouteDecision {
	return plugin.RouteDecision{RouteVerdict: p.route.Decide(req), DecidedBy: "router"}
}

func (p *nativePolicy) DecideIPC(_ context.Context, req *protocol.IPCRequest) plugin.IPCDecision {
	return plugin.IPCDecision{IPCVerdict: p.ipc.Decide(req), DecidedBy: "ipcauthz"}
}

func (p *nativePolicy) DecideMount(_ context.Context, req *protocol.MountRequest) plugin.MountDecision {
	return plugin.MountDecision{MountVerdict: protocol.MountVerdict{Allow: true, ReadOnly: true,
		HostPath: req.HostPath, ContainerPath: sandbox.PathExtra + "/" + req.ContainerPath}}
}

// ---- log capture ----

type logLine struct {
	Name  string
	Level hclog.Level
	Msg   string
	Args  string
}

type logTap struct{ lines recorder[logLine] }

func (l *logTap) Accept(name string, level hclog.Level, msg string, args ...any) {
	l.lines.add(logLine{Name: name, Level: level, Msg: msg, Args: fmt.Sprint(args...)})
}

// ---- the harness ----

type options struct {
	settings  func(*config.Settings)
	policy    func(base Policy) Policy
	now       func() time.Time
	retryBase time.Duration
}

type harness struct {
	t      testing.TB
	root   string
	ctx    context.Context
	st     *store.Store
	d      *Daemon
	rt     *fakeRuntime
	ch     *fakeChannel
	logs   *logTap
	ipcOut recorder[ipc.Outcome]
	nRuns  int // runs handed out by nextRun

	cancel  context.CancelFunc
	runErr  chan error
	started bool
}

// newHarness builds a daemon over a fresh project root; start runs it. Between the two the
// test may prepare the store as a previous host would have left it.
func newHarness(t *testing.T, opt options) *harness {
	t.Helper()
	root, err := os.MkdirTemp("", "dt") // short: unix socket paths must stay under 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, root: root, rt: &fakeRuntime{}, ch: &fakeChannel{}, logs: &logTap{}, runErr: make(chan error, 1)}
	h.ctx = context.Background()
	if err := os.MkdirAll(filepath.Join(root, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range testTemplates {
		if err := os.WriteFile(filepath.Join(root, "templates", name+".md"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.st, err = store.Open(h.ctx, filepath.Join(root, "store", "messages.db"))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := credproxy.New(credproxy.Config{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	s := config.Settings{AssistantName: "Andy", TZ: "UTC", Location: time.UTC, ContainerImage: "x",
		IdleTimeout: 300 * time.Millisecond, MaxConcurrentContainers: 2, MaxMessagesPerPrompt: 10}
	if opt.settings != nil {
		opt.settings(&s)
	}
	log := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Trace})
	log.RegisterSink(h.logs)
	groups := NewGroups()
	var pol Policy = newNativePolicy(groups)
	if opt.policy != nil {
		pol = opt.policy(pol)
	}
	h.d, err = New(Config{Root: root, Agents: testAgents(t, root), Settings: s, Store: h.st, Groups: groups, Policy: pol, Runtime: h.rt, Proxy: proxy,
		Channels: []channel.Factory{func(o channel.Options) (channel.Channel, error) { h.ch.opts = o; return h.ch, nil }},
		Log:      log, Now: opt.now, OnIPC: h.ipcOut.add, RetryBase: opt.retryBase})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.started {
			stopped, stop := context.WithCancel(context.Background())
			stop()
			_ = h.d.queue.Shutdown(stopped) // no new runs from here on
			h.rt.killAll()                  // end the containers a test left running
			drain, cancel := context.WithTimeout(context.Background(), waitTimeout)
			if err := h.d.queue.Shutdown(drain); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			cancel()
			h.cancel()
			select {
			case err := <-h.runErr:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("cleanup: Run did not return")
			}
		}
		_ = proxy.Close()
		_ = h.st.Close()
		_ = os.RemoveAll(root)
		if t.Failed() {
			for _, l := range h.logs.lines.all() {
				t.Logf("log: %s [%s] %s %s", l.Name, l.Level, l.Msg, l.Args)
			}
		}
	})
	return h
}

// testTemplates are the memory templates of a harness's project (templates/<name>.md).
var testTemplates = map[string]string{
	"main":   "# Andy\n\nYou are Andy, the owner's assistant.\n",
	"group":  "# Andy\n\nYou are Andy, a helpful assistant. Ask Andy anything.\n",
	"global": "# Global memory\n\nShared by every group.\n",
}

// testAgents is root's agent directories for agents running as the test process implies
// (as root: 1000:1000, prepared by chown, as a root host does).
func testAgents(t testing.TB, root string) *agentfs.FS {
	t.Helper()
	a, err := agentfs.New(root, agentfs.OwnerFor(os.Getuid(), os.Getgid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// register records a group as `nanoclaw groups add` would: its chat, its folders and its
// registration, before the daemon starts.
func (h *harness) register(g store.Group) {
	h.t.Helper()
	if err := h.st.StoreChatMetadata(h.ctx, store.Chat{JID: g.JID, Name: g.Name, Channel: "test", IsGroup: true}); err != nil {
		h.t.Fatal(err)
	}
	h.registerUnseen(g)
}

// registerUnseen registers g as `nanoclaw groups add` does: its chat may have no row yet.
func (h *harness) registerUnseen(g store.Group) {
	h.t.Helper()
	if err := PrepareGroupDirs(h.d.cfg.Agents, g.Folder, g.IsMain, "Andy"); err != nil {
		h.t.Fatal(err)
	}
	if g.Trigger == "" {
		g.Trigger = "@Andy"
	}
	if err := h.st.SetRegisteredGroup(h.ctx, g); err != nil {
		h.t.Fatal(err)
	}
}

// start runs the daemon and waits until it is ready (recovery done, channels connected).
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.started = cancel, true
	go func() {
		err := h.d.Run(ctx)
		h.logs.Accept("harness", hclog.Info, "Run returned", err)
		h.runErr <- err
	}()
	lines := h.logs.lines.wait(h.t, "host ready", func(l []logLine) bool {
		return slices.ContainsFunc(l, func(x logLine) bool { return x.Msg == "host ready" || x.Msg == "Run returned" })
	})
	if slices.ContainsFunc(lines, func(x logLine) bool { return x.Msg == "Run returned" }) {
		h.t.Fatalf("Run returned before the host was ready")
	}
}

// nextRun waits for the next container the daemon starts.
func (h *harness) nextRun() *fakeRun {
	h.t.Helper()
	n := h.nRuns + 1
	runs := h.rt.runs.wait(h.t, fmt.Sprintf("container run #%d", n), func(r []*fakeRun) bool { return len(r) >= n })
	h.nRuns = n
	return runs[n-1]
}

// assertIdle checks that no run is active or queued and no container beyond those handed out
// was started. It is exact right after a synchronous call (OnMessage, Run's recovery), since
// the queue takes a run's slot before OnMessage returns.
func (h *harness) assertIdle() {
	h.t.Helper()
	if n := h.d.queue.ActiveCount(); n != 0 {
		h.t.Fatalf("%d runs active, want none; queue %+v", n, h.d.queue.Status())
	}
	if w := h.d.queue.Waiting(); len(w) != 0 {
		h.t.Fatalf("groups waiting for a slot: %v", w)
	}
	if n := len(h.rt.runs.all()); n != h.nRuns {
		h.t.Fatalf("%d containers started, want %d", n, h.nRuns)
	}
}

// drain stops the queue and waits for every run to finish and every stored message to be
// handed to its channel: after it, the store holds each run's final state. No run starts
// after drain.
func (h *harness) drain() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.d.queue.Shutdown(ctx); err != nil {
		h.t.Fatalf("drain: %v", err)
	}
	if h.d.flushOutbox(ctx) {
		h.t.Fatalf("drain: some stored messages could not be sent")
	}
}

// waitLog waits for a log line with message msg.
func (h *harness) waitLog(msg string) {
	h.t.Helper()
	h.logs.lines.wait(h.t, fmt.Sprintf("log %q", msg), func(l []logLine) bool {
		return slices.ContainsFunc(l, func(x logLine) bool { return x.Msg == msg })
	})
}

// logged reports whether a line with message msg was logged.
func (h *harness) logged(msg string) bool {
	return slices.ContainsFunc(h.logs.lines.all(), func(x logLine) bool { return x.Msg == msg })
}

// message delivers an inbound message as a channel does: chat metadata first.
func (h *harness) message(m store.Message) {
	h.t.Helper()
	if err := h.d.OnChatMetadata(h.ctx, channel.ChatMeta{JID: m.ChatJID, Channel: "test", IsGroup: true}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.d.OnMessage(h.ctx, m); err != nil {
		h.t.Fatalf("OnMessage: %v", err)
	}
}

// storeMessage stores a message directly, as a previous host would have.
func (h *harness) storeMessage(m store.Message) {
	h.t.Helper()
	if err := h.st.StoreChatMetadata(h.ctx, store.Chat{JID: m.ChatJID, Channel: "test", IsGroup: true}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.StoreMessage(h.ctx, m); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) cursor(jid string) string {
	h.t.Helper()
	c, err := h.st.AgentCursor(h.ctx, jid)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) inflight(jid string) string {
	h.t.Helper()
	v, _, err := h.st.State(h.ctx, inflightKey(jid))
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) session(folder string) string {
	h.t.Helper()
	s, err := h.st.Session(h.ctx, folder)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) queueStatus(jid string) (queue.GroupStatus, bool) {
	for _, s := range h.d.queue.Status() {
		if s.JID == jid {
			return s, true
		}
	}
	return queue.GroupStatus{}, false
}

// ---- fixtures ----

const (
	mainJID = "test:main"
	famJID  = "test:family"
)

var (
	mainGroup   = store.Group{JID: mainJID, Name: "Main", Folder: "main", IsMain: true}
	familyGroup = store.Group{JID: famJID, Name: "Family", Folder: "family", RequiresTrigger: true}
)

// base is the time of the first test message.
var base = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)

// ts is the timestamp of the i-th message.
func ts(i int) string { return store.Timestamp(base.Add(time.Duration(i) * time.Minute)) }

// msg is a message from Alice in jid at ts(i).
func msg(jid, id, content string, i int) store.Message {
	return store.Message{ID: id, ChatJID: jid, Sender: "alice@test", SenderName: "Alice", Content: content, Timestamp: ts(i)}
}

var errBoom = errors.New("engine is down")

// A host stopped before it finished starting returns no error: a stop is not a failure.
func TestStopWhileStarting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.d.Run(ctx); err != nil {
		t.Fatalf("Run with the stop already asked: %v, want nil", err)
	}
}
