// Package quiet is the policy of the quiethours example plugin: during the operator's quiet
// hours, messages to groups other than main are stored as context but do not start the
// agent; at any other time, and without a config file, it makes no decision, so the default
// router decides. It is plain Go over a Facts interface, so it is tested natively with a
// fake clock and compiled unchanged into the plugin.
package quiet

import (
	"bytes"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// ConfigName is the config document the plugin reads (its manifest's "config").
const ConfigName = "quiethours"

// ReasonQuiet is the reason given for every message held back.
const ReasonQuiet = "quiet hours"

// Facts is what the policy needs from its host: in the plugin, host functions (clock,
// config) and stderr; in tests, plain values.
type Facts interface {
	// Now is the host's wall clock.
	Now() time.Time
	// Config returns the quiet-hours document; ok is false when the host has none.
	Config() (doc protocol.ConfigDoc, ok bool)
	// Log reports an unusable config document, once per change of it.
	Log(msg string)
}

// Reporter is implemented by Facts that can tell the host about the config document (the
// plugin's, through config_problem, so `nanoclaw status` names the file): Problem says it is
// unusable and why, or with "" that it is fine or absent. Called once per change of it.
type Reporter interface {
	Problem(msg string)
}

// Policy decides; it parses the config again only when the document's bytes change. It is
// not safe for concurrent use: a plugin instance runs one call at a time.
type Policy struct {
	facts  Facts
	raw    []byte  // a copy of the document last parsed; nil when there is none
	window *Window // nil: no usable config, do nothing
	absent bool    // the last look found no document (and said so)
}

// New returns a Policy over f.
func New(f Facts) *Policy { return &Policy{facts: f} }

// Decide holds back messages to non-main groups during quiet hours (ActionStore) and
// otherwise returns no decision (ActionNone). Unregistered chats and the assistant's own
// messages are left to the default router.
func (p *Policy) Decide(req *protocol.RouteRequest) protocol.RouteVerdict {
	w := p.config() // first, so a broken file is reported on any call, the self-check's too
	g := req.Group
	if g == nil || req.Message.IsBotMessage {
		return protocol.RouteVerdict{}
	}
	if w == nil || g.IsMain && w.ExceptMain || !w.Contains(p.facts.Now()) {
		return protocol.RouteVerdict{}
	}
	return protocol.RouteVerdict{Action: protocol.ActionStore, Reason: ReasonQuiet}
}

func (p *Policy) config() *Window {
	doc, ok := p.facts.Config()
	if !ok || !doc.Exists {
		if p.raw != nil || p.window != nil || !p.absent {
			p.report("")
		}
		p.raw, p.window, p.absent = nil, nil, true
		return nil
	}
	p.absent = false
	if p.raw != nil && bytes.Equal(doc.Content, p.raw) {
		return p.window
	}
	p.raw = append(make([]byte, 0, len(doc.Content)), doc.Content...)
	w, err := ParseConfig(doc.Content)
	if err != nil {
		p.facts.Log(doc.Path + ": " + err.Error() + "; quiet hours are off")
		p.report(doc.Path + ": " + err.Error() + "; quiet hours are off")
	} else {
		p.report("")
	}
	p.window = w
	return w
}

func (p *Policy) report(problem string) {
	if r, ok := p.facts.(Reporter); ok {
		r.Problem(problem)
	}
}
