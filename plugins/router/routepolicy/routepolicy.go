// Package routepolicy is the default routing policy: what happens to an inbound message
// (ignore, store as context, or deliver to a group's agent), following NanoClaw v1's trigger
// rules and sender allowlist. It is plain Go with its facts behind an interface, so it is
// tested and fuzzed natively and compiled unchanged into the router plugin.
package routepolicy

import (
	"bytes"
	"strings"
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

// Reporter is implemented by Facts that can tell the host about the allowlist file (the
// plugin's, through config_problem): Problem says the file is unusable and why, what the
// router does instead included, or with "" that it is fine, so `nanoclaw status` can name
// the file that is wrong. It is called whenever the document changes.
type Reporter interface {
	Problem(msg string)
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
	// The allowlist is looked at first, for every message (a version check while it does not
	// change), so that a broken file is reported as soon as the router is asked anything,
	// the host's self-check included.
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.allowlist()
	g := req.Group
	if g == nil {
		return protocol.RouteVerdict{Action: protocol.ActionIgnore, Reason: ReasonUnregistered}
	}
	m := &req.Message
	if m.IsBotMessage {
		return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonBotMessage}
	}
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
// changed. No file means no allowlist (everyone may trigger); a file that cannot be read or
// is invalid fails closed (DenyAll: no sender may trigger) until it is fixed, as an invalid
// mount allowlist refuses every mount. Problems are logged and reported to the host once per
// change.
func (r *Router) allowlist() *Allowlist {
	doc, ok := r.facts.Config()
	present := ok && doc.Exists
	if r.loaded && present == r.present && doc.Error == r.readErr && (!present || bytes.Equal(doc.Content, r.raw)) {
		return r.list
	}
	r.loaded, r.present, r.readErr, r.raw = true, present, doc.Error, nil
	if !present {
		if doc.Error != "" {
			r.fail("cannot read " + doc.Path + ": " + doc.Error)
			return r.list
		}
		r.report("")
		r.list = AllowAll()
		return r.list
	}
	r.raw = bytes.Clone(doc.Content)
	list, err := ParseAllowlist(doc.Content)
	if err != nil {
		r.fail(doc.Path + ": " + err.Error())
		return r.list
	}
	for _, jid := range list.Skipped {
		r.facts.Log("sender-allowlist: " + doc.Path + ": invalid entry for chat " + jid + "; no sender may trigger there until it is fixed")
	}
	if len(list.Skipped) > 0 {
		r.report(doc.Path + ": invalid entries for chats " + strings.Join(list.Skipped, ", ") + "; no sender may trigger there until they are fixed")
	} else {
		r.report("")
	}
	r.list = list
	return list
}

// fail closes every chat: the file exists but cannot be used.
func (r *Router) fail(problem string) {
	r.facts.Log("sender-allowlist: " + problem + "; no sender may trigger until it is fixed")
	r.report(problem + "; no sender may trigger until it is fixed")
	r.list = DenyAll()
}

func (r *Router) report(problem string) {
	if rp, ok := r.facts.(Reporter); ok {
		rp.Problem(problem)
	}
}
