package channel

import (
	"slices"
	"sync"
)

// Registry maps channel names to factories. It is a value, not a package global, so tests
// and embedders can build their own set of networks; the host fills one at startup.
type Registry struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: make(map[string]Factory)}
}

// Register adds f under name. A later registration under the same name replaces the earlier
// one, as in NanoClaw, so a build can override a stock channel. A nil f removes name.
func (r *Registry) Register(name string, f Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f == nil {
		delete(r.factories, name)
		return
	}
	r.factories[name] = f
}

// Get returns the factory registered under name, so the host can build one channel.
func (r *Registry) Get(name string) (Factory, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.factories[name]
	return f, ok
}

// Names lists the registered names, sorted, so startup order and listings are stable.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for name := range r.factories {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Set is the channels the host connected, in the order they were added. Outbound routing
// asks it which channel owns a chat.
type Set struct {
	mu       sync.RWMutex
	channels []Channel
}

// NewSet returns a set holding chs in order; nil entries are skipped.
func NewSet(chs ...Channel) *Set {
	s := &Set{}
	for _, ch := range chs {
		s.Add(ch)
	}
	return s
}

// Add appends ch; ownership ties go to channels added earlier. A nil ch is ignored, so the
// host can add a factory's (nil, nil) "not configured" result without a check.
func (s *Set) Add(ch Channel) {
	if ch == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = append(s.channels, ch)
}

// Replace puts ch in the place of the channel with the same Name, or appends it when there
// is none, and returns the channel it replaced (nil when none): a channel connected again
// (WhatsApp paired while the host runs) keeps its place in the ownership order.
func (s *Set) Replace(ch Channel) (old Channel) {
	if ch == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.channels {
		if c.Name() == ch.Name() {
			s.channels[i] = ch
			return c
		}
	}
	s.channels = append(s.channels, ch)
	return nil
}

// Owner returns the first channel, in the order added, whose OwnsJID(jid) is true: the one
// that sends to that chat (NanoClaw's findChannel).
func (s *Set) Owner(jid string) (Channel, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ch := range s.channels {
		if ch.OwnsJID(jid) {
			return ch, true
		}
	}
	return nil, false
}

// All returns a copy of the channels in the order added, for connect and disconnect loops.
func (s *Set) All() []Channel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.channels)
}

// Len is the number of channels; the host refuses to run with none.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.channels)
}
