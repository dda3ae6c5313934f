package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/sandbox/imagetest"
)

const (
	agentImage = "nanoclaw-agent:e2e"
	realKey    = "sk-ant-real-e2e-7f3c9d1b5a"
)

var agentImageBuilder imagetest.Builder

// buildAgentImage builds the minimal agent image exactly as `make image` does.
func buildAgentImage(t testing.TB, d *Docker) {
	t.Helper()
	if err := agentImageBuilder.Build(context.Background(), d.Client(), agentImage); err != nil {
		t.Fatal(err)
	}
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

// TestAgentEndToEnd runs the real minimal image with the agent runner, reaching a scripted
// model only through the credential proxy's socket: bash writes into the group folder,
// send_message writes an IPC file, the agent hunts for the real key and must not find it.
func TestAgentEndToEnd(t *testing.T) {
	d := docker(t)
	buildAgentImage(t, d)
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
	spec, err := BuildSpec(ctx, l, RunSpec{Folder: "family", Image: agentImage, Now: time.Now()}, allowAll{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := proxy.Listen("family", filepath.Join(l.DataDir, "proxy", "family", "api.sock")); err != nil {
		t.Fatal(err)
	}
	var outputs []RunOutput
	cfg := RunConfig{Idle: 2 * time.Second, IdleGrace: 30 * time.Second, Timeout: 2 * time.Minute,
		InputDir: filepath.Join(l.DataDir, "ipc", "family", "input"), LogDir: filepath.Join(l.DataDir, "logs", "family")}
	res, err := Run(ctx, d, spec, RunRequest{Prompt: "please work", GroupFolder: "family", ChatJID: "family@g.us", AssistantName: "Andy"}, cfg,
		func(o RunOutput) { outputs = append(outputs, o) })
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
	msgs, _ := filepath.Glob(filepath.Join(l.DataDir, "ipc", "family", "messages", "*.json"))
	if len(msgs) != 1 {
		t.Fatalf("IPC message files: %v", msgs)
	}
	if b, _ := os.ReadFile(msgs[0]); !strings.Contains(string(b), "hello from the sandbox") || !strings.Contains(string(b), "family@g.us") {
		t.Errorf("IPC message: %s", b)
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
