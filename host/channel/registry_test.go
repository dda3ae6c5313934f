package channel

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// stubChannel is a Channel that owns JIDs with a prefix.
type stubChannel struct {
	name, prefix string
}

func (c *stubChannel) Name() string                                  { return c.name }
func (c *stubChannel) Connect(context.Context) error                 { return nil }
func (c *stubChannel) Send(context.Context, string, string) error    { return nil }
func (c *stubChannel) SetTyping(context.Context, string, bool) error { return nil }
func (c *stubChannel) OwnsJID(jid string) bool                       { return strings.HasPrefix(jid, c.prefix) }
func (c *stubChannel) MaxMessageLen() int                            { return 0 }
func (c *stubChannel) Disconnect(context.Context) error              { return nil }

func stubFactory(name string) Factory {
	return func(Options) (Channel, error) { return &stubChannel{name: name}, nil }
}

// Ports src/channels/registry.test.ts.
func TestRegistry(t *testing.T) {
	t.Run("unknown name is absent", func(t *testing.T) {
		r := NewRegistry()
		if f, ok := r.Get("nope"); ok || f != nil {
			t.Fatalf("Get(nope) = %v, %v", f, ok)
		}
	})
	t.Run("register and get round-trip", func(t *testing.T) {
		r := NewRegistry()
		r.Register("test", stubFactory("test"))
		f, ok := r.Get("test")
		if !ok {
			t.Fatal("registered factory not found")
		}
		ch, err := f(Options{})
		if err != nil || ch.Name() != "test" {
			t.Fatalf("factory built %v, %v", ch, err)
		}
	})
	t.Run("names are listed sorted", func(t *testing.T) {
		r := NewRegistry()
		if got := r.Names(); len(got) != 0 {
			t.Fatalf("empty registry names = %v", got)
		}
		r.Register("whatsapp", stubFactory("whatsapp"))
		r.Register("local", stubFactory("local"))
		r.Register("telegram", stubFactory("telegram"))
		if got, want := r.Names(), []string{"local", "telegram", "whatsapp"}; !slices.Equal(got, want) {
			t.Fatalf("Names() = %v, want %v", got, want)
		}
	})
	t.Run("later registration overwrites", func(t *testing.T) {
		r := NewRegistry()
		r.Register("dup", stubFactory("first"))
		r.Register("dup", stubFactory("second"))
		f, _ := r.Get("dup")
		ch, _ := f(Options{})
		if ch.Name() != "second" {
			t.Fatalf("got %q, want the later factory", ch.Name())
		}
		if got := r.Names(); !slices.Equal(got, []string{"dup"}) {
			t.Fatalf("Names() = %v", got)
		}
	})
	t.Run("nil factory unregisters", func(t *testing.T) {
		r := NewRegistry()
		r.Register("x", stubFactory("x"))
		r.Register("x", nil)
		if _, ok := r.Get("x"); ok {
			t.Fatal("nil registration left the name")
		}
	})
	t.Run("registries are independent", func(t *testing.T) {
		a, b := NewRegistry(), NewRegistry()
		a.Register("only-a", stubFactory("a"))
		if _, ok := b.Get("only-a"); ok {
			t.Fatal("registries share state")
		}
	})
}

func TestSetOwner(t *testing.T) {
	wa := &stubChannel{name: "whatsapp", prefix: "1"}
	local := &stubChannel{name: "local", prefix: "local:"}
	catchAll := &stubChannel{name: "catchall", prefix: ""}
	s := NewSet(wa, nil, local, catchAll)
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (nil skipped)", s.Len())
	}
	tests := []struct {
		jid  string
		want string
	}{
		{"local:main", "local"},
		{"123@g.us", "whatsapp"},
		{"tg:42", "catchall"},
	}
	for _, tt := range tests {
		ch, ok := s.Owner(tt.jid)
		if !ok || ch.Name() != tt.want {
			t.Errorf("Owner(%q) = %v, %v; want %s", tt.jid, ch, ok, tt.want)
		}
	}
	if _, ok := NewSet(wa, local).Owner("tg:42"); ok {
		t.Error("Owner found a channel for an unowned JID")
	}
	names := []string{}
	for _, ch := range s.All() {
		names = append(names, ch.Name())
	}
	if want := []string{"whatsapp", "local", "catchall"}; !slices.Equal(names, want) {
		t.Errorf("All() order = %v, want %v", names, want)
	}
}
