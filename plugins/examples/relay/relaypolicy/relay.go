// Package relaypolicy is the relay example's policy: a message that starts with ">>folder "
// is handed to that group's agent instead of its own chat's. Plain Go, tested natively.
package relaypolicy

import (
	"strings"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Prefix marks a message to relay: ">>family what's for dinner?" goes to group "family".
const Prefix = ">>"

// maxFolder bounds the folder name read from a message; host folders are shorter.
const maxFolder = 64

// Decide delivers a ">>folder text" message to folder's group and makes no decision on
// anything else, so the next router (the default one) applies its trigger rules. The host,
// not this policy, checks that the manifest's deliverTo grants the target and that it exists;
// a refused verdict falls through to the next router too.
func Decide(req *protocol.RouteRequest) protocol.RouteVerdict {
	m := req.Message
	if m.IsBotMessage { // the assistant's own lines are never relayed
		return protocol.RouteVerdict{}
	}
	folder, ok := target(m.Content)
	if !ok {
		return protocol.RouteVerdict{}
	}
	return protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: folder, Reason: "relayed with " + Prefix + folder}
}

// target reads the folder after the prefix: lower-case letters, digits, '-' and '_', ended by
// white space that is followed by some text (a bare ">>family" relays nothing).
func target(content string) (string, bool) {
	rest, ok := strings.CutPrefix(content, Prefix)
	if !ok {
		return "", false
	}
	end := 0
	for end < len(rest) && end <= maxFolder && isFolderByte(rest[end]) {
		end++
	}
	if end == 0 || end > maxFolder || end == len(rest) || (rest[end] != ' ' && rest[end] != '\n' && rest[end] != '\t') {
		return "", false
	}
	if strings.TrimSpace(rest[end:]) == "" {
		return "", false
	}
	return rest[:end], true
}

func isFolderByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
