package invariants

import (
	"testing"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// TestCheckDelivery: the route invariant a fuzzed plugin is held to matches the host's
// delivery grant: own group free, "*" everything but main, main only by name.
func TestCheckDelivery(t *testing.T) {
	family := Groups[1]
	cases := []struct {
		name      string
		deliverTo []string
		chat      *protocol.Group
		verdict   protocol.RouteVerdict
		ok        bool
	}{
		{"own group", nil, &family, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "family"}, true},
		{"store is no delivery", nil, &family, protocol.RouteVerdict{Action: protocol.ActionStore, Group: "main"}, true},
		{"into main without grant", nil, &family, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "main"}, false},
		{"into main with star", []string{"*"}, &family, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "main"}, false},
		{"into main by name", []string{"main"}, &family, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "main"}, true},
		{"into work with star", []string{"*"}, &family, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "work"}, true},
		{"unregistered chat", nil, nil, protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: "family"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckDelivery(c.deliverTo, &protocol.RouteRequest{Group: c.chat}, &c.verdict)
			if (err == nil) != c.ok {
				t.Fatalf("CheckDelivery = %v, want ok %v", err, c.ok)
			}
		})
	}
}
