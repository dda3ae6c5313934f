package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestCommands runs the CLI as a user would, against plugins built from this repository.
func TestCommands(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	plugins := filepath.Join(work, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mountguard", "ipcauthz", "router"} {
		wasm := plugintest.BuildGo(t, filepath.Join(root, "plugins", name), "")
		m, err := os.ReadFile(filepath.Join(root, "plugins", name, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(wasm)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, name+".wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, name+".json"), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(work, "config")
	// Allowed directories live outside the project: everything of the checkout is the
	// host's own state, which no allowlist reaches.
	outside := t.TempDir()
	allowed := filepath.Join(outside, "projects", "app")
	for _, d := range []string{allowed, cfg, filepath.Join(work, "data", "ipc", "main"), filepath.Join(work, "groups", "family"), filepath.Join(work, ".git")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	allowlist := write("allowlist.json", `{"allowedRoots":[{"path":"`+filepath.Join(outside, "projects")+`","allowReadWrite":true}],"blockedPatterns":[],"nonMainReadOnly":true}`)
	// An allowed root above the project: the project and its state must still be refused.
	parent := filepath.Dir(work)
	wide := write("wide.json", `{"allowedRoots":[{"path":"`+parent+`","allowReadWrite":true}],"blockedPatterns":[],"nonMainReadOnly":false}`)
	mountMain := func(host string) []string {
		return []string{"policy", "mount", "--group", "main", "--main", "--host-path", host, "--allowlist", wide}
	}
	groups := write("groups.json", `[{"jid":"main@s.whatsapp.net","folder":"main","isMain":true},{"jid":"family@g.us","folder":"family","trigger":"@Andy"}]`)
	toOther := write("req.json", `{"type":"message","chatJid":"main@s.whatsapp.net","text":"hi"}`)
	msg := write("msg.json", `{"id":"1","chatJid":"family@g.us","sender":"x","content":"@andy hi"}`)
	notWasm := write("junk.wasm", "not wasm")
	write("junk.json", `{"name":"junk","kind":"route","abi":1}`)

	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no command", nil, 2, ""},
		{"unknown command", []string{"fly"}, 2, ""},
		{"check a valid plugin", []string{"plugin", "check", filepath.Join(plugins, "router.wasm")}, 0, "valid: router"},
		{"check garbage", []string{"plugin", "check", notWasm}, 1, "invalid"},
		{"list offline", []string{"plugin", "list"}, 0, "mountguard"},
		{"list shows where a router delivers", []string{"plugin", "list"}, 0, "own group"},
		{"check shows where a router delivers", []string{"plugin", "check", filepath.Join(plugins, "router.wasm")}, 0, "delivers to: own group"},
		{"mount allowed, non-main forced read-only", []string{"policy", "mount", "--group", "family", "--host-path", allowed, "--rw", "--allowlist", allowlist}, 0, `"readonly":true`},
		{"mount denied", []string{"policy", "mount", "--group", "main", "--main", "--host-path", "/etc", "--allowlist", allowlist}, 1, `"allow":false`},
		{"mount without an allowlist", []string{"policy", "mount", "--group", "main", "--main", "--host-path", allowed}, 1, "no mount allowlist"},
		{"project root refused under a parent root", mountMain(work), 1, "path is a protected nanoclaw path (" + work + ")"},
		{"parent of the project refused", mountMain(parent), 1, "path contains a protected nanoclaw path (" + work + ")"},
		{"IPC directory refused", mountMain(filepath.Join(work, "data", "ipc", "main")), 1, "inside a protected nanoclaw path (" + filepath.Join(work, "data") + ")"},
		{"plugin directory refused", mountMain(filepath.Join(work, "plugins")), 1, "path is a protected nanoclaw path (" + plugins + ")"},
		{"group folder refused", mountMain(filepath.Join(work, "groups", "family")), 1, "path is a protected nanoclaw path (" + filepath.Join(work, "groups", "family") + ")"},
		{".git refused", mountMain(filepath.Join(work, ".git")), 1, "inside a protected nanoclaw path (" + work + ")"},
		{"config directory refused", mountMain(cfg), 1, "path is a protected nanoclaw path (" + cfg + ")"},
		{"beside the project allowed under a parent root", mountMain(outside), 0, `"allow":true`},
		{"ipc denied across groups", []string{"policy", "ipc", "--group", "family", "--request", toOther, "--groups", groups}, 1, "own chat"},
		{"ipc allowed for main", []string{"policy", "ipc", "--group", "main", "--main", "--request", toOther, "--groups", groups}, 0, `"allow":true`},
		{"route delivers on trigger", []string{"policy", "route", "--message", msg, "--groups", groups}, 0, `"action":"deliver"`},
		{"route with a given plugin", []string{"policy", "route", "--message", msg, "--groups", groups, "--plugin", filepath.Join(plugins, "router.wasm")}, 0, `"group":"family"`},
		{"policy usage", []string{"policy", "mount"}, 2, ""},
		{"policy mount with a missing allowlist file", []string{"policy", "mount", "--group", "main", "--main", "--host-path", allowed, "--allowlist", filepath.Join(work, "nonexistent.json")}, 2, ""},
		{"policy mount with a directory as allowlist", []string{"policy", "mount", "--group", "main", "--main", "--host-path", allowed, "--allowlist", cfg}, 2, ""},
		{"allowlist given to policy ipc", []string{"policy", "ipc", "--group", "main", "--request", toOther, "--allowlist", allowlist}, 2, ""},
		{"policy ipc with a missing request file", []string{"policy", "ipc", "--group", "main", "--request", filepath.Join(work, "nonexistent.json")}, 2, ""},
		{"policy route with a missing groups file", []string{"policy", "route", "--message", msg, "--groups", filepath.Join(work, "nonexistent.json")}, 2, ""},
		{"policy mount with a missing plugin", []string{"policy", "mount", "--group", "main", "--host-path", allowed, "--plugin", filepath.Join(work, "nonexistent.wasm")}, 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string {
				if k == "NANOCLAW_CONFIG_DIR" {
					return cfg
				}
				return ""
			}
			code := dispatch(context.Background(), c.args, env{stdout: &stdout, stderr: &stderr, getenv: getenv, workdir: work})
			if code != c.code || !strings.Contains(stdout.String(), c.out) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, c.code, stdout.String(), stderr.String())
			}
		})
	}
}
