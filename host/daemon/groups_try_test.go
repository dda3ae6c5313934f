package daemon

import (
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestGroupsTryLookup: plugins' group lookups are answered on the spot unless a reload
// holds the index, and agree with LookupGroup; GroupByFolder finds the main group.
func TestGroupsTryLookup(t *testing.T) {
	g := NewGroups()
	main := store.Group{JID: "main@s.whatsapp.net", Folder: "main", IsMain: true}
	g.byJID[main.JID], g.byFolder[main.Folder] = main, main
	for _, key := range []string{main.JID, "nobody@g.us"} {
		got, found, ready := g.TryLookupGroup([]byte(key))
		want, wantFound := g.LookupGroup([]byte(key))
		if !ready || found != wantFound || got != want {
			t.Fatalf("TryLookupGroup(%q) = %+v %v %v, want %+v %v", key, got, found, ready, want, wantFound)
		}
	}
	g.mu.Lock()
	_, _, ready := g.TryLookupGroup([]byte(main.JID))
	g.mu.Unlock()
	if ready {
		t.Fatal("answered while the index was being replaced")
	}
	if pg, ok := g.GroupByFolder("main"); !ok || !pg.IsMain {
		t.Fatalf("GroupByFolder(main) = %+v %v", pg, ok)
	}
}
