package whatsapp

import (
	"context"
	"errors"
	"fmt"
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

// sendWait bounds every wait for an event in these tests.
const sendWait = 5 * time.Second

// sendAttempt is one SendMessage call the fake saw.
type sendAttempt struct {
	to   string
	text string
	at   time.Time
	err  error
	id   types.MessageID
	msg  *waE2E.Message // the message as sent (mentions, quotes)
}

// sendFakeClient records sends, presences and group fetches; it fails on demand.
type sendFakeClient struct {
	mu          sync.Mutex
	attempts    []sendAttempt
	presences   []string
	failSends   int   // the next failSends sends fail
	sendErr     error // every send fails while set
	presenceErr error
	groups      []*types.GroupInfo
	groupsErr   error
	groupCalls  int
	connects    int
	connectErr  error
	disconnects int
	linkUp      bool
	nextID      int

	selfPresence []types.Presence // SendPresence calls
	selfAt       []int            // len(presences) at each SendPresence: the order of the two
	presenceErrs []error          // what the next SendPresence calls return, in order
	reads        []string         // MarkRead calls (see receipts_test.go)
	readCh       chan string      // each MarkRead call, when set
	readErr      error

	attemptCh chan sendAttempt
	groupCh   chan struct{}
	handlers  []whatsmeow.EventHandler
}

func newSendFakeClient() *sendFakeClient {
	return &sendFakeClient{attemptCh: make(chan sendAttempt, 2000), groupCh: make(chan struct{}, 100)}
}

func (f *sendFakeClient) SendMessage(_ context.Context, to types.JID, m *waE2E.Message, _ ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	f.mu.Lock()
	a := sendAttempt{to: to.String(), text: m.GetConversation(), at: time.Now(), msg: m}
	if et := m.GetExtendedTextMessage(); et != nil {
		a.text = et.GetText()
	}
	switch {
	case f.sendErr != nil:
		a.err = f.sendErr
	case f.failSends > 0:
		f.failSends--
		a.err = errors.New("websocket closed")
	default:
		f.nextID++
		a.id = types.MessageID(fmt.Sprintf("3EB0%04d", f.nextID))
	}
	f.attempts = append(f.attempts, a)
	f.mu.Unlock()
	f.attemptCh <- a
	return whatsmeow.SendResponse{ID: a.id}, a.err
}

func (f *sendFakeClient) SendChatPresence(_ context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.presences = append(f.presences, jid.String()+" "+string(state)+" "+string(media))
	return f.presenceErr
}

func (f *sendFakeClient) GetJoinedGroups(context.Context) ([]*types.GroupInfo, error) {
	f.mu.Lock()
	f.groupCalls++
	groups, err := f.groups, f.groupsErr
	f.mu.Unlock()
	f.groupCh <- struct{}{}
	return groups, err
}

func (f *sendFakeClient) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = append(f.handlers, h)
	return uint32(len(f.handlers))
}

// dispatch sends an event to every handler, as whatsmeow does.
func (f *sendFakeClient) dispatch(evt any) {
	f.mu.Lock()
	hs := append([]whatsmeow.EventHandler(nil), f.handlers...)
	f.mu.Unlock()
	for _, h := range hs {
		h(evt)
	}
}

func (f *sendFakeClient) Connect() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects++
	return f.connectErr
}

func (f *sendFakeClient) Disconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnects++
}

func (f *sendFakeClient) IsConnected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.linkUp
}

func (f *sendFakeClient) IsLoggedIn() bool { return true }

func (f *sendFakeClient) set(fn func(f *sendFakeClient)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *sendFakeClient) counts() (groupCalls, disconnects int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groupCalls, f.disconnects
}

// next waits for the next send attempt.
func (f *sendFakeClient) next(t testing.TB) sendAttempt {
	t.Helper()
	select {
	case a := <-f.attemptCh:
		return a
	case <-time.After(sendWait):
		t.Fatal("no send attempt")
		return sendAttempt{}
	}
}

// none asserts that no send attempt comes within d.
func (f *sendFakeClient) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case a := <-f.attemptCh:
		t.Fatalf("unexpected send %+v", a)
	case <-time.After(d):
	}
}

// groupFetch waits for a GetJoinedGroups call.
func (f *sendFakeClient) groupFetch(t testing.TB) {
	t.Helper()
	select {
	case <-f.groupCh:
	case <-time.After(sendWait):
		t.Fatal("no group fetch")
	}
}

// sendSink records chat metadata.
type sendSink struct {
	mu    sync.Mutex
	metas []channel.ChatMeta
	err   error
	ch    chan channel.ChatMeta
}

func newSendSink() *sendSink { return &sendSink{ch: make(chan channel.ChatMeta, 100)} }

func (s *sendSink) OnChatMetadata(_ context.Context, m channel.ChatMeta) error {
	s.mu.Lock()
	s.metas = append(s.metas, m)
	err := s.err
	s.mu.Unlock()
	s.ch <- m
	return err
}

func (s *sendSink) OnMessage(context.Context, store.Message) error { return nil }

func (s *sendSink) all() []channel.ChatMeta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]channel.ChatMeta(nil), s.metas...)
}

type sendIdentity struct{}

func (sendIdentity) Own() (types.JID, types.JID) { return types.EmptyJID, types.EmptyJID }
func (sendIdentity) PNForLID(context.Context, types.JID) (types.JID, bool) {
	return types.EmptyJID, false
}

// newSendChannel builds a channel over fakes ("Andy", shared number, 1 ms spacing unless
// opts say otherwise), connects it, and disconnects it at the end of the test.
func newSendChannel(t testing.TB, opts Options) (*Channel, *sendFakeClient, *sendSink) {
	t.Helper()
	f := newSendFakeClient()
	sink := newSendSink()
	if opts.AssistantName == "" {
		opts.AssistantName = "Andy"
	}
	if opts.MinSendInterval == 0 {
		opts.MinSendInterval = time.Millisecond
	}
	opts.Sink = sink
	c := New(opts, f, sendIdentity{})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sendWait)
		defer cancel()
		if err := c.Disconnect(ctx); err != nil {
			t.Error(err)
		}
	})
	return c, f, sink
}

// online delivers a Connected event.
func online(c *Channel) { c.handleEvent(&events.Connected{}) }

func mustSend(t testing.TB, c *Channel, jid, text string) {
	t.Helper()
	if err := c.Send(context.Background(), jid, text); err != nil {
		t.Fatal(err)
	}
}

const (
	sendGroup = "120363001@g.us"
	sendDM    = "15551234567@s.whatsapp.net"
)
