// Command bench is the benchmark guest: benchpolicy.Decide behind the SDK, with the group
// lookup answered by the groups capability.
package main

import (
	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/benchpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
)

func lookup(jid string) (string, bool, bool) {
	b, err := hostcall.LookupGroup(jid)
	if err != nil {
		return "", false, false
	}
	var g protocol.Group
	if g.DecodeAliased(b) != nil {
		return "", false, false
	}
	return g.Folder, g.RequiresTrigger, true
}

func init() {
	sdk.HandleRoute(func(r *protocol.RouteRequest) protocol.RouteVerdict { return benchpolicy.Decide(r, lookup) })
}

func main() {}
