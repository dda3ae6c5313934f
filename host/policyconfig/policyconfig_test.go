package policyconfig

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

func decode(t *testing.T, raw []byte) protocol.ConfigDoc {
	t.Helper()
	var d protocol.ConfigDoc
	if err := d.UnmarshalJSON(raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return d
}

func TestDocs(t *testing.T) {
	dir := t.TempDir()
	override := filepath.Join(t.TempDir(), "mine.json")
	d := New(Options{ConfigDir: dir, Protected: []string{dir}, Files: map[string]string{"sender-allowlist": override}})
	cases := []struct {
		name, want string
	}{
		{"mount-allowlist", filepath.Join(dir, "mount-allowlist.json")},
		{"sender-allowlist", override},
		{"quiethours", filepath.Join(dir, "plugins", "quiethours.json")},
	}
	for _, c := range cases {
		if got := d.Path(c.name); got != c.want {
			t.Errorf("Path(%s) = %s, want %s", c.name, got, c.want)
		}
	}
	raw, v1, ok := d.ConfigDoc("mount-allowlist")
	doc := decode(t, raw)
	if !ok || doc.Exists || len(doc.ProtectedPaths) != 1 {
		t.Fatalf("missing file: %+v", doc)
	}
	if err := os.WriteFile(filepath.Join(dir, "mount-allowlist.json"), []byte(`{"not":"checked here"`), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Reload()
	raw, v2, _ := d.ConfigDoc("mount-allowlist")
	doc = decode(t, raw)
	if !doc.Exists || string(doc.Content) != `{"not":"checked here"` || v2 == v1 {
		t.Fatalf("after write: %+v version %d→%d", doc, v1, v2)
	}
	d.Reload()
	if _, v3, _ := d.ConfigDoc("mount-allowlist"); v3 != v2 {
		t.Fatal("version changed without a change")
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	d := New(Options{ConfigDir: dir})
	d.ConfigDoc("mount-allowlist")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- d.Watch(ctx, func() { reloaded <- struct{}{} }) }()
	select {
	case <-d.Watching():
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not start")
	}
	if err := os.WriteFile(filepath.Join(dir, "mount-allowlist.json"), []byte(`{"v":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-reloaded:
		case <-time.After(10 * time.Second):
			t.Fatal("no reload")
		}
		if raw, _, _ := d.ConfigDoc("mount-allowlist"); decode(t, raw).Exists {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTryConfigDoc: a document already read is served without waiting, unless a reload
// holds the lock; one never read is left to ConfigDoc.
func TestTryConfigDoc(t *testing.T) {
	d := New(Options{ConfigDir: t.TempDir()})
	if _, _, _, ready := d.TryConfigDoc("sender-allowlist"); ready {
		t.Fatal("a document never read was served on the spot")
	}
	want, wantV, _ := d.ConfigDoc("sender-allowlist")
	doc, v, found, ready := d.TryConfigDoc("sender-allowlist")
	if !ready || !found || string(doc) != string(want) || v != wantV {
		t.Fatalf("TryConfigDoc = %s %d %v %v, want %s %d", doc, v, found, ready, want, wantV)
	}
	d.mu.Lock()
	_, _, _, ready = d.TryConfigDoc("sender-allowlist")
	d.mu.Unlock()
	if ready {
		t.Fatal("served while a reload held the lock")
	}
}
