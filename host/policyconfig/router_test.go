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

// TestTruncatedSenderAllowlistFailsClosed is the attack of a truncated sender allowlist,
// which made the real router allow every sender: with the default plugins and documents
// served by Docs, a file cut short lets no sender trigger (messages are still routed to be
// stored), the registry reports which file is wrong and why, and fixing or removing the
// file clears the problem — the host's ConfigChanged makes that visible at once.
func TestTruncatedSenderAllowlistFailsClosed(t *testing.T) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	docs := New(Options{ConfigDir: cfgDir})
	loader, err := plugin.NewLoader(plugin.LoaderConfig{CacheDir: plugintest.CacheDir(), Services: plugin.Services{Config: docs}})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close(context.Background())
	reg := plugin.NewRegistry(loader, nil)
	defer reg.Close(context.Background())
	dir := t.TempDir()
	for _, name := range []string{"router", "mountguard"} {
		m, err := os.ReadFile(filepath.Join(root, "plugins", name, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		plugintest.Install(t, dir, name, plugintest.BuildGo(t, filepath.Join(root, "plugins", name), ""), jsonRaw(m))
	}
	if err := reg.LoadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- docs.Watch(ctx, func() {
			reg.ConfigChanged()
			reloaded <- struct{}{}
		})
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-docs.Watching():
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not start")
	}
	family := &protocol.Group{JID: "fam@g.us", Folder: "family", Trigger: "@Andy", RequiresTrigger: true}
	trigger := func(sender string) string {
		return reg.DecideRoute(ctx, &protocol.RouteRequest{Group: family, AssistantName: "Andy",
			Message: protocol.Message{ID: "1", ChatJID: family.JID, Sender: sender, Content: "@Andy hi"}}).Action
	}
	senderFile := filepath.Join(cfgDir, "sender-allowlist.json")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	problem := func(doc string) string {
		for _, p := range reg.Problems() {
			if p.Document == doc {
				return p.Path + ": " + p.Problem
			}
		}
		return ""
	}
	// until waits for reloads until ok holds.
	until := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-reloaded:
			case <-time.After(10 * time.Second):
				t.Fatalf("never saw %s; alice %s, eve %s, problems %+v", what, trigger("alice"), trigger("eve"), reg.Problems())
			}
		}
	}
	if trigger("eve") != protocol.ActionDeliver || problem("sender-allowlist") != "" {
		t.Fatalf("no file: eve %s, problem %q", trigger("eve"), problem("sender-allowlist"))
	}
	valid := `{"default":{"allow":["alice"],"mode":"trigger"},"chats":{},"logDenied":false}`
	write(senderFile, valid)
	until("alice alone triggering", func() bool {
		return trigger("alice") == protocol.ActionDeliver && trigger("eve") == protocol.ActionStore
	})
	write(senderFile, valid[:len(valid)/2])
	until("the truncated file reported", func() bool { return problem("sender-allowlist") != "" })
	for _, sender := range []string{"alice", "eve"} {
		if a := trigger(sender); a != protocol.ActionStore {
			t.Fatalf("truncated file: %s's trigger gave %q, want the message stored and no agent", sender, a)
		}
	}
	if p := problem("sender-allowlist"); !strings.Contains(p, senderFile) || !strings.Contains(p, "no sender may trigger") {
		t.Fatalf("problem %q does not name the file and what it means", p)
	}
	write(senderFile, valid)
	until("the fixed file cleared", func() bool { return problem("sender-allowlist") == "" })
	if trigger("alice") != protocol.ActionDeliver {
		t.Fatal("alice cannot trigger after the fix")
	}

	mountFile := filepath.Join(cfgDir, "mount-allowlist.json")
	write(mountFile, `{"allowedRoots": [`)
	until("the broken mount allowlist reported", func() bool { return strings.Contains(problem("mount-allowlist"), mountFile) })
	if err := os.Remove(mountFile); err != nil {
		t.Fatal(err)
	}
	until("the removed mount allowlist cleared", func() bool { return problem("mount-allowlist") == "" })
}
