package plugin

import (
	"testing"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// onlyJIDs is a group directory that cannot look folders up.
type onlyJIDs struct{}

func (onlyJIDs) LookupGroup([]byte) (protocol.Group, bool) { return protocol.Group{}, false }

// TestMainFolderUnknownIsMain: with a directory that cannot tell which folder is main's,
// every target counts as main, so "*" grants nothing and only a named folder does.
func TestMainFolderUnknownIsMain(t *testing.T) {
	star := &Manifest{Kind: protocol.KindRoute, DeliverTo: []string{AnyGroup}}
	named := &Manifest{Kind: protocol.KindRoute, DeliverTo: []string{"work"}}
	cases := []struct {
		name string
		dir  GroupDirectory
		m    *Manifest
		want bool
	}{
		{"folder directory, star, not main", testGroups, star, true},
		{"no folder lookups, star", onlyJIDs{}, star, false},
		{"no directory, star", nil, star, false},
		{"no folder lookups, named", onlyJIDs{}, named, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.m.MayDeliver("family", "work", isMainFolder(c.dir, "work")); got != c.want {
				t.Fatalf("MayDeliver = %v, want %v", got, c.want)
			}
		})
	}
}
