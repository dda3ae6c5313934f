package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestRunRefusesWithoutImage: a host whose agent image is missing does not start, and says
// how to build the image.
func TestRunRefusesWithoutImage(t *testing.T) {
	requireDocker(t)
	work, err := os.MkdirTemp("", "nc-run-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config"), "ANTHROPIC_API_KEY": "sk-ant-test-placeholder",
		"CONTAINER_IMAGE": "nanoclaw-no-such-image:nope"}
	out, code := cli(t, work, vars, "run")
	if code != 1 || !strings.Contains(out, "make image") || !strings.Contains(out, "nanoclaw-no-such-image:nope") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestRunHotLoads starts the host, asks it for its plugins over the control socket, drops a
// custom routing plugin into plugins/ and sees the running host serve it with no restart.
func TestRunHotLoads(t *testing.T) {
	requireDocker(t) // the host refuses to start without an engine and its agent image
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are short: keep the work directory shallow.
	work, err := os.MkdirTemp("", "nc-run-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	plugins := filepath.Join(work, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	installPlugin(t, root, "plugins/router", plugins, "router")
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan plugin.Event, 16)
	ready := make(chan struct{})
	getenv := func(k string) string {
		switch k {
		case "NANOCLAW_CONFIG_DIR":
			return filepath.Join(work, "config")
		case "ANTHROPIC_API_KEY":
			return "sk-ant-test-placeholder"
		case "CONTAINER_IMAGE":
			return e2eImage()
		}
		return ""
	}
	var logs bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"run"}, env{stdout: &logs, stderr: &logs, getenv: getenv, workdir: work,
			pluginEvents: func(e plugin.Event) { events <- e }, ready: ready})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("host exited with %d: %s", code, logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("host did not start")
	}
	list := func() string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := dispatch(ctx, []string{"plugin", "list"}, env{stdout: &out, stderr: &errOut, getenv: getenv, workdir: work}); code != 0 {
			t.Fatalf("plugin list: %d %s", code, errOut.String())
		}
		return out.String()
	}
	if got := list(); !strings.Contains(got, "# running host") || !strings.Contains(got, "router") {
		t.Fatalf("plugin list from the running host:\n%s", got)
	}
	installPlugin(t, root, "plugins/examples/quiethours", plugins, "quiethours")
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(list(), "quiethours") {
		select {
		case e := <-events:
			if e.Err != nil {
				t.Fatalf("drop-in failed to load: %v", e.Err)
			}
		case <-deadline:
			t.Fatalf("quiethours never served:\n%s\n%s", list(), logs.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("host exited with %d after SIGTERM-equivalent: %s", code, logs.String())
	}
	if _, err := os.Stat(filepath.Join(work, "data", "nanoclaw.sock")); !os.IsNotExist(err) {
		t.Fatalf("control socket left behind: %v", err)
	}
	fi, err := os.Stat(filepath.Join(work, "data", "plugin-cache"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("plugin cache dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}
