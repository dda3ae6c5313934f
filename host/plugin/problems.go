package plugin

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Problem is a policy document a plugin found unusable, as the plugin reported it through
// config_problem: which document, which file, what is wrong and what the plugin does
// instead. Only the plugin knows what its document must look like (the host passes files
// through untouched), so it is the plugin that says; the host records it, logs it and shows
// it in `nanoclaw status`.
type Problem struct {
	Document string        `json:"document"`       // the manifest's config name, e.g. "sender-allowlist"
	Path     string        `json:"path,omitempty"` // the file the host reads it from, when known
	Plugin   string        `json:"plugin"`
	Kind     protocol.Kind `json:"kind"`
	Problem  string        `json:"problem"`
	Since    time.Time     `json:"since"`
}

// PathSource is implemented by a ConfigSource that can say which file a document is read
// from (policyconfig.Docs), so a problem names the file.
type PathSource interface {
	Path(name string) string
}

// problemBook holds the problems reported by plugins, one per plugin (name and kind) and
// document, shared by all generations of a plugin like its key-value state.
type problemBook struct {
	log hclog.Logger
	mu  sync.Mutex
	m   map[problemKey]Problem
}

type problemKey struct {
	plugin   string
	kind     protocol.Kind
	document string
}

// report records msg for the plugin's document, or clears it when msg is empty. A repeated
// report keeps its first time; a change is logged once.
func (b *problemBook) report(m *Manifest, path, msg string) {
	msg = strings.ToValidUTF8(strings.TrimSpace(msg), "\uFFFD")
	k := problemKey{m.Name, m.Kind, m.Config}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, had := b.m[k]
	switch {
	case msg == "" && had:
		delete(b.m, k)
		b.log.Info("policy document is usable again", "document", m.Config, "path", path, "plugin", m.Name, "kind", m.Kind)
	case msg == "" || (had && old.Problem == msg):
	default:
		if b.m == nil {
			b.m = map[problemKey]Problem{}
		}
		b.m[k] = Problem{Document: m.Config, Path: path, Plugin: m.Name, Kind: m.Kind, Problem: msg, Since: time.Now().UTC()}
		b.log.Error("policy document is invalid", "document", m.Config, "path", path, "plugin", m.Name, "kind", m.Kind, "problem", msg)
	}
}

// list returns the problems of the plugins keep accepts, by document then plugin.
func (b *problemBook) list(keep func(name string, kind protocol.Kind) bool) []Problem {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Problem
	for _, p := range b.m {
		if keep(p.Plugin, p.Kind) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Document, b.Document), cmp.Compare(a.Plugin, b.Plugin))
	})
	return out
}
