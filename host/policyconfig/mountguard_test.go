package policyconfig

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// TestMountguardFollowsAllowlist runs the real mountguard plugin on documents served by Docs:
// no file means no mounts, a valid file allows, an invalid one denies everything, and every
// change is seen without restarting anything.
func TestMountguardFollowsAllowlist(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfgDir, home := t.TempDir(), t.TempDir()
	projects := filepath.Join(home, "projects")
	if err := os.MkdirAll(filepath.Join(projects, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	docs := New(Options{ConfigDir: cfgDir, Protected: []string{cfgDir}})
	loader, err := plugin.NewLoader(plugin.LoaderConfig{CacheDir: plugintest.CacheDir(), Services: plugin.Services{Config: docs}})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close(context.Background())
	reg := plugin.NewRegistry(loader, nil)
	defer reg.Close(context.Background())
	dir := t.TempDir()
	m, err := os.ReadFile(filepath.Join(root, "plugins", "mountguard", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	plugintest.Install(t, dir, "mountguard", plugintest.BuildGo(t, filepath.Join(root, "plugins", "mountguard"), ""), jsonRaw(m))
	if err := reg.LoadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- docs.Watch(ctx, func() { reloaded <- struct{}{} }) }()
	defer func() { cancel(); <-done }()
	select {
	case <-docs.Watching():
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not start")
	}
	req := &protocol.MountRequest{Group: "main", IsMain: true, HostPath: filepath.Join(projects, "app"), ReadOnly: true}
	decide := func() protocol.MountVerdict { return reg.DecideMount(ctx, req).MountVerdict }
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(cfgDir, "mount-allowlist.json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// until waits for reloads until the decision satisfies ok.
	until := func(what string, ok func(protocol.MountVerdict) bool) {
		t.Helper()
		for !ok(decide()) {
			select {
			case <-reloaded:
			case <-time.After(10 * time.Second):
				t.Fatalf("never saw %s; last verdict %+v", what, decide())
			}
		}
	}
	if v := decide(); v.Allow || !strings.Contains(v.Reason, "no mount allowlist") {
		t.Fatalf("without a file: %+v", v)
	}
	write(`{"allowedRoots":[{"path":"` + projects + `","allowReadWrite":true}],"blockedPatterns":[],"nonMainReadOnly":true}`)
	until("an allow", func(v protocol.MountVerdict) bool { return v.Allow })
	write(`{"allowedRoots": [`)
	until("a deny for an invalid file", func(v protocol.MountVerdict) bool {
		return !v.Allow && strings.Contains(v.Reason, "every additional mount is refused")
	})
	if err := os.Remove(filepath.Join(cfgDir, "mount-allowlist.json")); err != nil {
		t.Fatal(err)
	}
	until("a deny for a removed file", func(v protocol.MountVerdict) bool {
		return !v.Allow && strings.Contains(v.Reason, "no mount allowlist")
	})
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }
