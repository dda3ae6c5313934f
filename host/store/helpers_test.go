package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// openTest opens a fresh database in t's temp dir, closed when the test ends.
func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "store", "nanoclaw.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustChat stores chat metadata with only a JID and time, like NanoClaw's tests do.
func mustChat(t testing.TB, s *Store, jid, ts string) {
	t.Helper()
	if err := s.StoreChatMetadata(context.Background(), Chat{JID: jid, LastMessageTime: ts}); err != nil {
		t.Fatal(err)
	}
}

// mustMsg stores a message.
func mustMsg(t testing.TB, s *Store, m Message) {
	t.Helper()
	if err := s.StoreMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// userMsg is a plain user message in jid.
func userMsg(id, jid, content, ts string) Message {
	return Message{ID: id, ChatJID: jid, Sender: "user@s.whatsapp.net", SenderName: "User", Content: content, Timestamp: ts}
}

func contents(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

// sameStrings compares string lists, nil and empty alike.
func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// benchTime is the i-th second after a fixed epoch.
func benchTime(i int) time.Time {
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}
