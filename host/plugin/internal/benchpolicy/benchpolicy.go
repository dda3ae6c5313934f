// Package benchpolicy is the decision the plugin host's benchmarks measure: a routing rule
// over a typical request (about ten fields) that makes one host-function call. The same code
// runs natively and inside the bench guest, so the two can be compared in one run.
package benchpolicy

import (
	"strings"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Lookup finds a registered group by JID; in the guest it is the group_lookup host function.
type Lookup func(jid string) (folder string, requiresTrigger bool, ok bool)

// Decide delivers a message to its chat's group when the trigger matches.
func Decide(req *protocol.RouteRequest, lookup Lookup) protocol.RouteVerdict {
	folder, requires, ok := lookup(req.Message.ChatJID)
	if !ok {
		return protocol.RouteVerdict{Action: protocol.ActionIgnore, Reason: "chat not registered"}
	}
	if req.Message.IsBotMessage {
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: "own message"}
	}
	trigger := "@" + req.AssistantName
	c := strings.TrimSpace(req.Message.Content)
	if requires && !(len(c) >= len(trigger) && strings.EqualFold(c[:len(trigger)], trigger)) {
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: "no trigger"}
	}
	return protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: folder, Reason: "trigger"}
}
