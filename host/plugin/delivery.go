package plugin

import "github.com/nanoclaw/nanoclaw-go/plugins/protocol"

// AnyGroup in a manifest's deliverTo grants delivery to every group but the main one.
const AnyGroup = "*"

// FolderDirectory is implemented by a GroupDirectory that can also find a group by its
// folder. The route chain uses it to tell whether a delivery targets the main group, which
// AnyGroup does not cover; with a directory that cannot tell, every target is treated as
// the main group (only a grant naming it allows delivery).
type FolderDirectory interface {
	GroupByFolder(folder string) (protocol.Group, bool)
}

// MayDeliver reports whether a route plugin with manifest m may deliver a message from a
// chat whose group has folder own ("" for an unregistered chat) to the group with folder
// target. Delivering to the chat's own group needs nothing; any other target must be named
// in deliverTo, or covered by AnyGroup unless it is the main group (targetIsMain).
//
// Why: a dropped-in route plugin answering {"action":"deliver","group":"main"} fed another
// chat's messages into the main group's agent, the one agent that may act for every group.
// Routing across groups is a power the operator grants a plugin by name, where `nanoclaw
// plugin list` shows it.
func (m *Manifest) MayDeliver(own, target string, targetIsMain bool) bool {
	if own != "" && target == own {
		return true
	}
	for _, g := range m.DeliverTo {
		if g == target || (g == AnyGroup && !targetIsMain) {
			return true
		}
	}
	return false
}

// isMainFolder tells whether folder is the main group's, as far as dir knows: a directory
// that cannot look folders up makes every folder count as main (the strict answer); an
// unknown folder is not main (the host delivers to no unknown group anyway).
func isMainFolder(dir GroupDirectory, folder string) bool {
	fd, ok := dir.(FolderDirectory)
	if !ok {
		return true
	}
	g, found := fd.GroupByFolder(folder)
	return found && g.IsMain
}
