package whatsapp

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// Fixed ids for receive tests: the account's own phone number and LID, a contact known by
// both, and a LID nobody maps.
const (
	recvOwnPN      = "15550001111@s.whatsapp.net"
	recvOwnLID     = "99990001111@lid"
	recvAlicePN    = "15551234567@s.whatsapp.net"
	recvAliceLID   = "12345678901234@lid"
	recvUnknownLID = "55555555555555@lid"
	recvGroup      = "120363000000000001@g.us"
	recvAssistant  = "Andy"
)

// recvT0 is the timestamp of every test message.
var recvT0 = time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

// recvSink records sink calls in order: channel.ChatMeta and store.Message values.
type recvSink struct {
	mu      sync.Mutex
	calls   []any
	metaErr error
	msgErr  error
}

func (s *recvSink) OnChatMetadata(_ context.Context, m channel.ChatMeta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, m)
	return s.metaErr
}

func (s *recvSink) OnMessage(_ context.Context, m store.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, m)
	return s.msgErr
}

// got returns a copy of the recorded calls.
func (s *recvSink) got() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]any(nil), s.calls...)
}

// messages returns the recorded messages only.
func (s *recvSink) messages() []store.Message {
	var ms []store.Message
	for _, c := range s.got() {
		if m, ok := c.(store.Message); ok {
			ms = append(ms, m)
		}
	}
	return ms
}

// recvIdentity is a fixed account with a LID table.
type recvIdentity struct {
	pn, lid types.JID
	lids    map[types.JID]types.JID
}

func (i recvIdentity) Own() (types.JID, types.JID) { return i.pn, i.lid }

func (i recvIdentity) PNForLID(_ context.Context, lid types.JID) (types.JID, bool) {
	pn, ok := i.lids[lid]
	return pn, ok
}

// newRecvIdentity knows the own account and Alice's LID.
func newRecvIdentity(t testing.TB) recvIdentity {
	return recvIdentity{pn: recvJID(t, recvOwnPN), lid: recvJID(t, recvOwnLID),
		lids: map[types.JID]types.JID{recvJID(t, recvAliceLID): recvJID(t, recvAlicePN)}}
}

// recvFakeClient satisfies Client for New; the receive side calls none of its methods
// beyond AddEventHandler (the embedded nil interface panics if anything else is used).
type recvFakeClient struct {
	Client
	handlers []whatsmeow.EventHandler
}

func (f *recvFakeClient) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	f.handlers = append(f.handlers, h)
	return uint32(len(f.handlers))
}

// newRecvChannel builds a channel over fakes; mode sets HasOwnNumber.
func newRecvChannel(t testing.TB, ownNumber bool) (*Channel, *recvSink, *recvFakeClient) {
	t.Helper()
	sink := &recvSink{}
	cli := &recvFakeClient{}
	c := New(Options{Sink: sink, AssistantName: recvAssistant, HasOwnNumber: ownNumber,
		Now: func() time.Time { return recvT0 }}, cli, newRecvIdentity(t))
	return c, sink, cli
}

// recvJID parses a JID or fails the test.
func recvJID(t testing.TB, s string) types.JID {
	t.Helper()
	if s == "" {
		return types.EmptyJID
	}
	j, err := types.ParseJID(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return j
}

// recvEvent builds an inbound message event at recvT0 with ID "M1" and push name "Alice".
func recvEvent(t testing.TB, chat, sender string, m *waE2E.Message) *events.Message {
	t.Helper()
	c := recvJID(t, chat)
	return &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: c, Sender: recvJID(t, sender), IsGroup: c.Server == types.GroupServer},
			ID:            "M1",
			PushName:      "Alice",
			Timestamp:     recvT0,
		},
		Message:    m,
		RawMessage: m,
	}
}

// recvText is a plain conversation message.
func recvText(s string) *waE2E.Message { return &waE2E.Message{Conversation: &s} }

// recvExt is an extended text message with an optional ContextInfo.
func recvExt(s string, ci *waE2E.ContextInfo) *waE2E.Message {
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: &s, ContextInfo: ci}}
}

// recvStr is a pointer to s (proto.String without the import).
func recvStr(s string) *string { return &s }

// recvMeta is the metadata expected for a chat.
func recvMeta(jid string) channel.ChatMeta {
	return channel.ChatMeta{JID: jid, Channel: Name, IsGroup: jid == recvGroup, Time: recvT0}
}

// recvMsg is the message expected for content in a chat from sender, as recvEvent builds it.
func recvMsg(chat, sender, content string) store.Message {
	return store.Message{ID: "M1", ChatJID: chat, Sender: sender, SenderName: "Alice", Content: content,
		Timestamp: store.Timestamp(recvT0)}
}
