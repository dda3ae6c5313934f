package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestStatusShowsPolicyProblems: a running host whose sender allowlist is truncated says in
// `nanoclaw status` (table and JSON) which file is wrong and why. (That a fix clears it is
// host/policyconfig's TestTruncatedSenderAllowlistFailsClosed.)
func TestStatusShowsPolicyProblems(t *testing.T) {
	requireDocker(t) // `run` insists on an engine and the agent image
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "nc-status-") // socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	installPlugin(t, root, "plugins/router", filepath.Join(work, "plugins"), "router")
	cfg := filepath.Join(work, "config")
	if err := os.MkdirAll(cfg, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(cfg, "sender-allowlist.json")
	if err := os.WriteFile(file, []byte(`{"default":{"allow":["alice"],"mo`), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": cfg, "NANOCLAW_PLUGIN_CACHE": plugintest.CacheDir(),
		"ANTHROPIC_API_KEY": "sk-ant-test-placeholder", "CONTAINER_IMAGE": e2eImage(), "TZ": "UTC"}
	stop, _ := startHost(t, work, vars)
	defer stop()
	out, code := cli(t, work, vars, "status")
	if code != 0 || !strings.Contains(out, "policy files that cannot be used") || !strings.Contains(out, file) ||
		!strings.Contains(out, "no sender may trigger") || !strings.Contains(out, "read by router") {
		t.Fatalf("status (%d) does not name the broken file:\n%s", code, out)
	}
	js, _ := cli(t, work, vars, "status", "--json")
	var doc struct {
		PolicyProblems []struct{ Document, Path, Plugin, Problem string } `json:"policyProblems"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil || len(doc.PolicyProblems) != 1 ||
		doc.PolicyProblems[0].Document != "sender-allowlist" || doc.PolicyProblems[0].Path != file || doc.PolicyProblems[0].Plugin != "router" {
		t.Fatalf("status --json (%v):\n%s", err, js)
	}
}
