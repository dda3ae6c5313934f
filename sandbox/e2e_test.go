package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/agentsock"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/sandbox/imagetest"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

const realKey = "sk-ant-real-e2e-7f3c9d1b5a"

// agentImages builds each agent image once per test process.
var agentImages = map[imagetest.Kind]*imagetest.Builder{imagetest.Minimal: {}, imagetest.Full: {Kind: imagetest.Full}}

// agentImage returns the tag of the agent image of kind, built from this checkout. The full
// image is skipped where its Debian base is not built and the run does not ask for it
// (imagetest.ErrNoBase); CI (NANOCLAW_REQUIRE_DOCKER=1) builds it.
func agentImage(t testing.TB, d *Docker, kind imagetest.Kind) string {
	t.Helper()
	tag, err := agentImages[kind].Build(context.Background(), d.Client(), "nanoclaw-agent-e2e")
	if errors.Is(err, imagetest.ErrNoBase) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// recordedIPC plays the host's IPC service: it performs everything and keeps what came in,
// with the group whose socket it arrived on.
type recordedIPC struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recordedIPC) Handle(_ context.Context, group string, body []byte) runproto.IPCResponse {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, group+" "+string(body))
	return runproto.IPCResponse{OK: true}
}

func (r *recordedIPC) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// serveAgents serves the groups' agent sockets as the host does: the model API through
// proxy, IPC into ipc. Sockets belong to the agent user (1000), as for a root host.
func serveAgents(t testing.TB, l Layout, proxy *credproxy.Proxy, ipc agentsock.IPC) *agentsock.Server {
	t.Helper()
	srv, err := agentsock.New(agentsock.Config{Dir: filepath.Join(l.DataDir, "agents"), UID: 1000, GID: 1000, Model: proxy.Handler, IPC: ipc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// startRun serves group's socket and attaches a run to it, as the daemon does before a
// container starts; it returns the socket directory and the run.
func startRun(t testing.TB, srv *agentsock.Server, group, id string) (string, *agentsock.Run) {
	t.Helper()
	dir, err := srv.Listen(group)
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.StartRun(group, id)
	if err != nil {
		t.Fatal(err)
	}
	return dir, run
}

// scriptedAPI plays the model: each request gets the next scripted response, and every
// request's headers and body are kept for assertions.
type scriptedAPI struct {
	mu     sync.Mutex
	bodies []string
	keys   []string
	turns  []func(body string) any
}

func (s *scriptedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.bodies)
	s.bodies = append(s.bodies, string(b))
	s.keys = append(s.keys, r.Header.Get("X-Api-Key"))
	s.mu.Unlock()
	var resp any = map[string]any{"type": "text", "text": "done"}
	stop := "end_turn"
	if n < len(s.turns) {
		resp = s.turns[n](string(b))
		if m, ok := resp.(map[string]any); ok && m["type"] == "tool_use" {
			stop = "tool_use"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "msg_e2e", "type": "message", "role": "assistant", "model": "claude-test",
		"content": []any{resp}, "stop_reason": stop, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 3, "output_tokens": 2}})
}

func toolUseBlock(id, name string, input map[string]any) map[string]any {
	return map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}
}

// TestAgentEndToEnd runs each real agent image (minimal and full) with the agent runner,
// reaching a scripted model only through the group's agent socket: bash writes into the
// group folder, send_message reaches the host's IPC service as the socket's group, the agent
// hunts for the real key and must not find it.
func TestAgentEndToEnd(t *testing.T) {
	d := docker(t)
	for _, kind := range imagetest.Kinds {
		t.Run(string(kind), func(t *testing.T) { agentEndToEnd(t, d, agentImage(t, d, kind)) })
	}
}

func agentEndToEnd(t *testing.T, d *Docker, image string) {
	ctx := context.Background()
	api := &scriptedAPI{turns: []func(string) any{
		func(string) any {
			return toolUseBlock("tu1", "bash", map[string]any{"command": "echo from-the-agent > /workspace/group/agent.txt && id -u"})
		},
		func(string) any {
			// The pattern is split in the command so that only a real find can put the key
			// in the tool result.
			return toolUseBlock("tu2", "bash", map[string]any{"command": "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; grep -rs 'sk-ant-re''al-e2e' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head; echo hunt-done"})
		},
		func(string) any {
			return toolUseBlock("tu3", "send_message", map[string]any{"text": "hello from the sandbox"})
		},
		func(string) any { return map[string]any{"type": "text", "text": "All done."} },
	}}
	upstream := httptest.NewServer(api)
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	proxy, err := credproxy.New(credproxy.Config{Upstream: u, APIKey: realKey})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	l := layout(t)
	ipc := &recordedIPC{}
	sock, run := startRun(t, serveAgents(t, l, proxy, ipc), "family", "run-e2e")
	spec, err := BuildSpec(ctx, l, RunSpec{Folder: "family", SocketDir: sock, Image: image, Now: time.Now()}, allowAll{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var outputs []RunOutput
	cfg := RunConfig{Idle: 2 * time.Second, IdleGrace: 30 * time.Second, Timeout: 2 * time.Minute,
		Close: func() { run.Close() }, LogDir: filepath.Join(l.DataDir, "logs", "family")}
	res, err := Run(ctx, d, spec, RunRequest{Prompt: "please work", GroupFolder: "family", ChatJID: "family@g.us", AssistantName: "Andy", RunID: run.ID()}, cfg,
		func(o RunOutput) { outputs = append(outputs, o) })
	run.End()
	if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(res.LogFile)
	if res.Status != "success" || len(outputs) == 0 || outputs[0].Result == nil || *outputs[0].Result != "All done." || res.NewSessionID == "" {
		t.Fatalf("run %+v outputs %+v\nlog:\n%s", res, outputs, log)
	}
	if b, err := os.ReadFile(filepath.Join(l.ProjectRoot, "groups", "family", "agent.txt")); err != nil || string(b) != "from-the-agent\n" {
		t.Errorf("the agent's file on the host: %q, %v", b, err)
	}
	reqs := ipc.all()
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0], "family {") || !strings.Contains(reqs[0], "hello from the sandbox") || !strings.Contains(reqs[0], "family@g.us") {
		t.Fatalf("IPC requests: %q", reqs)
	}
	if len(outputs[0].Inputs) != 1 || outputs[0].Inputs[0] != runproto.PromptInput {
		t.Errorf("the first result answers inputs %v, want the prompt", outputs[0].Inputs)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for i, k := range api.keys {
		if k != realKey {
			t.Errorf("request %d reached the model with key %q, not the proxy's", i, k)
		}
	}
	if len(api.bodies) < 3 || !strings.Contains(api.bodies[1], "1000") {
		t.Fatalf("bash ran as uid 1000? second request: %.500s", api.bodies[min(1, len(api.bodies)-1)])
	}
	hunt := api.bodies[2]
	if !strings.Contains(hunt, "hunt-done") {
		t.Fatalf("the key hunt did not run: %.500s", hunt)
	}
	if strings.Contains(hunt, "sk-ant-real-e2e") {
		t.Errorf("the real key is visible inside the container: %s", hunt)
	}
	// The container is gone after the run (auto-remove).
	list, err := d.Client().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("name", spec.Name)})
	if err == nil && len(list.Items) > 0 {
		gone := d.Client().ContainerWait(ctx, list.Items[0].ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		select {
		case <-gone.Result:
		case <-gone.Error:
		case <-time.After(30 * time.Second):
			t.Error("container still present after the run")
		}
	}
	if !strings.Contains(string(log), "status: success") {
		t.Errorf("run log:\n%s", log)
	}
}
