// Package routepolicy is the default routing policy: what happens to an inbound message
// (ignore, store as context, or deliver to a group's agent), following NanoClaw v1's trigger
// rules and sender allowlist. It is plain Go with its facts behind an interface, so it is
// tested and fuzzed natively and compiled unchanged into the router plugin.
package routepolicy

import (
	"bytes"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// ConfigName is the config document the router reads (its manifest's "config"): the sender
// allowlist, ~/.config/nanoclaw/sender-allowlist.json.
const ConfigName = "sender-allowlist"

// Facts is what the policy needs from its host. In the plugin these are host functions; in
// tests, plain values.
type Facts interface {
	// Config returns the sender allowlist document; ok is false when the host has none.
	Config() (doc protocol.ConfigDoc, ok bool)
	// Log records a denied sender (when the allowlist's logDenied is on) or a problem with
	// the allowlist file.
	Log(msg string)
}

// Router makes routing decisions. It keeps the parsed allowlist and parses again only when
// the document's bytes change, and it keeps the last trigger's reason string, so a decision
// on the usual path allocates nothing. It is safe for concurrent use.
type Router struct {
	facts Facts

	mu      sync.Mutex
	loaded  bool
	present bool   // the allowlist document exists
	raw     []byte // a copy of the bytes list was parsed from
	readErr string // the host's error reading the file, if any
	list    *Allowlist

	name, nameTrigger string // last assistant name and its default trigger "@" + name
	trigReason        string // "trigger " + last trigger delivered on
}

// New returns a Router over f.
func New(f Facts) *Router { return &Router{facts: f} }

// Reasons the router gives, constant so that a verdict allocates nothing.
const (
	ReasonUnregistered = "chat not registered"
	ReasonBotMessage   = "assistant's own message"
	ReasonDropped      = "sender not in allowlist (drop mode)"
	ReasonMain         = "main group"
	ReasonNoTrigger    = "no trigger"
	ReasonNotRequired  = "trigger not required"
	ReasonDenied       = "trigger from sender not in allowlist"
	ReasonNoFolder     = "group has no folder"
)

// Decide routes one message. The rules, in order:
//
//  1. An unregistered chat is ignored.
//  2. The assistant's own messages are stored and never trigger.
//  3. The sender allowlist: in drop mode a message from a sender it does not allow (and
//     not from the account itself) is ignored, not even stored.
//  4. The main group gets every message.
//  5. So does a group that does not require a trigger.
//  6. Otherwise the message is delivered only if it starts with the group's trigger (or
//     "@" + the assistant's name) and comes from the account itself or an allowed sender;
//     anything else is stored as context for the next delivery.
func (r *Router) Decide(req *protocol.RouteRequest) protocol.RouteVerdict {
	g := req.Group
	if g == nil {
		return protocol.RouteVerdict{Action: protocol.ActionIgnore, Reason: ReasonUnregistered}
	}
	m := &req.Message
	if m.IsBotMessage {
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonBotMessage}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.allowlist()
	entry := list.Entry(m.ChatJID)
	allowed := m.IsFromMe || entry.Allows(m.Sender)
	if !allowed && entry.Mode == ModeDrop {
		if list.LogDenied {
			r.facts.Log("sender-allowlist: dropping message from denied sender " + m.Sender + " in " + m.ChatJID)
		}
		return protocol.RouteVerdict{Action: protocol.ActionIgnore, Reason: ReasonDropped}
	}
	if g.Folder == "" { // a host bug: deliver needs a folder, so keep the message instead
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonNoFolder}
	}
	if g.IsMain {
		return deliver(g, ReasonMain)
	}
	if !g.RequiresTrigger {
		return deliver(g, ReasonNotRequired)
	}
	trigger := r.trigger(g, req.AssistantName)
	if !MatchTrigger(m.Content, trigger) {
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonNoTrigger}
	}
	if !allowed {
		if list.LogDenied {
			r.facts.Log("sender-allowlist: trigger denied for sender " + m.Sender + " in " + m.ChatJID)
		}
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonDenied}
	}
	return deliver(g, r.triggerReason(trigger))
}

func deliver(g *protocol.Group, reason string) protocol.RouteVerdict {
	return protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: g.Folder, Reason: reason}
}

// trigger is the group's trigger, or "@" + the assistant's name when it has none. Request
// strings alias the plugin's mailbox, so what is kept is a copy.
func (r *Router) trigger(g *protocol.Group, assistant string) string {
	if t := jsTrim(g.Trigger); t != "" {
		return t
	}
	if r.nameTrigger == "" || assistant != r.name {
		r.nameTrigger = "@" + assistant
		r.name = r.nameTrigger[1:]
	}
	return r.nameTrigger
}

func (r *Router) triggerReason(trigger string) string {
	const prefix = "trigger "
	if r.trigReason == "" || r.trigReason[len(prefix):] != trigger {
		r.trigReason = prefix + trigger
	}
	return r.trigReason
}

// allowlist returns the parsed sender allowlist, parsing again only when the document
// changed. Problems with the file are logged once per change: the router then allows every
// sender, as NanoClaw does.
func (r *Router) allowlist() *Allowlist {
	doc, ok := r.facts.Config()
	present := ok && doc.Exists
	if r.loaded && present == r.present && doc.Error == r.readErr && (!present || bytes.Equal(doc.Content, r.raw)) {
		return r.list
	}
	r.loaded, r.present, r.readErr, r.raw = true, present, doc.Error, nil
	if !present {
		if doc.Error != "" {
			r.facts.Log("sender-allowlist: cannot read " + doc.Path + ": " + doc.Error + "; allowing every sender")
		}
		r.list = AllowAll()
		return r.list
	}
	r.raw = bytes.Clone(doc.Content)
	list, err := ParseAllowlist(doc.Content)
	if err != nil {
		r.facts.Log("sender-allowlist: " + err.Error() + "; allowing every sender")
		list = AllowAll()
	}
	for _, jid := range list.Skipped {
		r.facts.Log("sender-allowlist: skipping invalid entry for chat " + jid)
	}
	r.list = list
	return list
}
