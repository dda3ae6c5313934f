package plugin

import (
	"strings"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// interner keeps one copy of each verdict string it has seen (reasons, folders, resolved
// paths), so decoding a verdict whose strings alias a reused buffer allocates nothing once
// the usual verdicts have been seen. It is bounded: past maxInterned distinct strings, new
// ones are simply copied.
type interner struct {
	mu sync.RWMutex
	m  map[string]string
}

const maxInterned = 4096

func (in *interner) get(s string) string {
	if s == "" {
		return ""
	}
	in.mu.RLock()
	v, ok := in.m[s]
	in.mu.RUnlock()
	if ok {
		return v
	}
	v = strings.Clone(s)
	in.mu.Lock()
	if in.m == nil {
		in.m = map[string]string{}
	}
	if len(in.m) < maxInterned {
		in.m[v] = v
	}
	in.mu.Unlock()
	return v
}

// action maps a route action to its constant, so it never needs a copy.
func action(a string) string {
	switch a {
	case protocol.ActionIgnore:
		return protocol.ActionIgnore
	case protocol.ActionStore:
		return protocol.ActionStore
	case protocol.ActionDeliver:
		return protocol.ActionDeliver
	}
	return protocol.ActionNone
}
