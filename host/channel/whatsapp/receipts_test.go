package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

func (f *sendFakeClient) SendPresence(_ context.Context, state types.Presence) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.selfPresence = append(f.selfPresence, state)
	f.selfAt = append(f.selfAt, len(f.presences))
	if len(f.presenceErrs) > 0 {
		err := f.presenceErrs[0]
		f.presenceErrs = f.presenceErrs[1:]
		return err
	}
	return nil
}

func (f *sendFakeClient) MarkRead(_ context.Context, ids []types.MessageID, ts time.Time, chat, sender types.JID, extra ...types.ReceiptType) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = string(id)
	}
	r := chat.String() + " " + sender.String() + " " + strings.Join(parts, ",") + " " + ts.UTC().Format(time.RFC3339)
	if !f.linkUp {
		r += " (sent with the link down)"
	}
	f.reads = append(f.reads, r)
	if f.readCh != nil {
		f.readCh <- r
	}
	return f.readErr
}

// nextReads waits for n receipts.
func (f *sendFakeClient) nextReads(t testing.TB, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case r := <-f.readCh:
			got = append(got, r)
		case <-time.After(sendWait):
			t.Fatalf("%d receipts, want %d: %q", len(got), n, got)
		}
	}
	return got
}

func (f *sendFakeClient) snapshot() (presence []types.Presence, reads []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]types.Presence(nil), f.selfPresence...), append([]string(nil), f.reads...)
}

// newDispatchChannel is a channel over a real, unpaired whatsmeow client's dispatch with the
// send side faked; it is connected (Connect on the fake) and logs to the returned buffer.
func newDispatchChannel(t *testing.T, name string, opts ...func(*Options)) (*Channel, *whatsmeow.Client, *sendFakeClient, *recvSink, *syncLog) {
	t.Helper()
	cli := newUnpairedClient(t, name)
	dc := &dispatchClient{real: cli, sendFakeClient: newSendFakeClient()}
	dc.readCh = make(chan string, 100)
	sink := &recvSink{}
	logs := &syncLog{}
	o := Options{Sink: sink, AssistantName: recvAssistant, MinSendInterval: time.Millisecond, Now: func() time.Time { return recvT0 },
		Log: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})}
	for _, f := range opts {
		f(&o)
	}
	c := New(o, dc, newRecvIdentity(t))
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sendWait)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c, cli, dc.sendFakeClient, sink, logs
}

// syncLog is a log buffer the channel's goroutines write and the test reads.
type syncLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed and replaced on each write
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote != nil {
		close(s.wrote)
		s.wrote = nil
	}
	return s.buf.Write(p)
}

// waitFor waits until the log holds sub.
func (s *syncLog) waitFor(t testing.TB, sub string) { t.Helper(); s.waitCount(t, sub, 1) }

// waitCount waits until the log holds sub n times.
func (s *syncLog) waitCount(t testing.TB, sub string, n int) {
	t.Helper()
	deadline := time.After(sendWait)
	for {
		s.mu.Lock()
		if strings.Count(s.buf.String(), sub) >= n {
			s.mu.Unlock()
			return
		}
		if s.wrote == nil {
			s.wrote = make(chan struct{})
		}
		ch := s.wrote
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("log lacks %q:\n%s", sub, s.String())
		}
	}
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestPresenceOnConnect: each connection announces the account's presence, "available"
// with a dedicated number (or NANOCLAW_WHATSAPP_PRESENCE=online) and "unavailable" on a
// shared one, so the owner's phone keeps its notifications. Before the push name is known
// whatsmeow refuses, and the PushNameSetting that brings it announces again.
func TestPresenceOnConnect(t *testing.T) {
	av, un := types.PresenceAvailable, types.PresenceUnavailable
	tests := []struct {
		name string
		opts func(*Options)
		want types.Presence
	}{
		{"dedicated number: online", func(o *Options) { o.HasOwnNumber = true }, av},
		{"shared number: offline, phone keeps notifications", func(o *Options) {}, un},
		{"shared number set online", func(o *Options) { o.Presence = PresenceOnline }, av},
		{"dedicated number set to working", func(o *Options) { o.HasOwnNumber, o.Presence = true, PresenceWorking }, un},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, cli, f, _, logs := newDispatchChannel(t, "wa_presence_test"+strconv.Itoa(i), tc.opts)
			f.set(func(f *sendFakeClient) {
				f.presenceErrs = []error{whatsmeow.ErrNoPushName, nil, errors.New("socket closed")}
			})
			d := cli.DangerousInternals()
			d.DispatchEvent(&events.Connected{})
			if p, _ := f.snapshot(); !reflect.DeepEqual(p, []types.Presence{tc.want}) {
				t.Fatalf("presence after connect %v", p)
			}
			d.DispatchEvent(&events.PushNameSetting{})
			d.DispatchEvent(&events.Disconnected{})
			d.DispatchEvent(&events.Connected{})
			p, _ := f.snapshot()
			if want := []types.Presence{tc.want, tc.want, tc.want}; !reflect.DeepEqual(p, want) {
				t.Fatalf("presences %v, want %v", p, want)
			}
			for _, s := range []string{"presence waits for the account's push name", "sending presence failed"} {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

// TestWorkingPresenceWhileTyping: on a shared number the account goes online before the
// first chat's typing indicator and offline after the last chat's ends; a dedicated number
// stays online and typing leaves its presence alone.
func TestWorkingPresenceWhileTyping(t *testing.T) {
	type step struct {
		chat string
		on   bool
	}
	steps := []step{{sendGroup, true}, {sendDM, true}, {sendGroup, true}, {sendGroup, false}, {sendDM, false}, {sendDM, true}}
	tests := []struct {
		name      string
		ownNumber bool
		want      string // presences and chat states, in order
	}{
		{"shared number", false, "available|G composing|D composing|G composing|G paused|D paused|unavailable|available|D composing"},
		{"dedicated number", true, "G composing|D composing|G composing|G paused|D paused|D composing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, f, _ := newSendChannel(t, Options{HasOwnNumber: tc.ownNumber})
			ctx := context.Background()
			for _, s := range steps {
				if err := c.SetTyping(ctx, s.chat, s.on); err != nil {
					t.Fatal(err)
				}
			}
			// The account's presences and the chat states, in the order they were sent.
			f.mu.Lock()
			var got []string
			short := strings.NewReplacer(sendGroup, "G", sendDM, "D", " text", "")
			self := 0
			for i, p := range f.presences {
				for ; self < len(f.selfAt) && f.selfAt[self] == i; self++ {
					got = append(got, string(f.selfPresence[self]))
				}
				got = append(got, short.Replace(strings.TrimSpace(p)))
			}
			for ; self < len(f.selfPresence); self++ {
				got = append(got, string(f.selfPresence[self]))
			}
			f.mu.Unlock()
			if g := strings.Join(got, "|"); g != tc.want {
				t.Fatalf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

// TestMarkRead: receipts go one per sender, addressed as the messages came (a LID sender
// stays a LID, as whatsmeow needs for the group's participant), for messages the channel
// never saw from their stored sender; the account's and the assistant's own messages get
// none. Asked while disconnected, they are sent on the next connection.
func TestMarkRead(t *testing.T) {
	c, cli, f, _, logs := newDispatchChannel(t, "wa_markread_test")
	d := cli.DangerousInternals()
	f.set(func(f *sendFakeClient) { f.linkUp = true })
	d.DispatchEvent(&events.Connected{})
	// Alice writes by LID; the channel files her under her phone number.
	in := recvEvent(t, recvGroup, recvAliceLID, recvText("hi"))
	in.Info.ID = "A1"
	d.DispatchEvent(in)
	at := recvT0.UTC().Format(time.RFC3339)
	stored := func(id, sender string, f ...func(*store.Message)) store.Message {
		m := store.Message{ID: id, ChatJID: recvGroup, Sender: sender, Content: "x"}
		for _, fn := range f {
			fn(&m)
		}
		return m
	}
	bob := "15557654321@s.whatsapp.net"
	msgs := []store.Message{
		stored("A1", recvAlicePN),
		stored("B1", bob),
		stored("A2", recvAlicePN),
		stored("ME", recvOwnPN, func(m *store.Message) { m.IsFromMe = true }),
		stored("BOT", recvOwnPN, func(m *store.Message) { m.IsBotMessage = true }),
		stored("B2", bob),
		stored("X", bob, func(m *store.Message) { m.ChatJID = "other@g.us" }),
	}
	if err := c.MarkRead(context.Background(), recvGroup, msgs); err != nil {
		t.Fatal(err)
	}
	reads := f.nextReads(t, 3)
	want := []string{
		recvGroup + " " + recvAliceLID + " A1 " + at,
		recvGroup + " " + bob + " B1,B2 " + at,
		recvGroup + " " + recvAlicePN + " A2 " + at,
	}
	if !reflect.DeepEqual(reads, want) {
		t.Fatalf("receipts:\n got %q\nwant %q", reads, want)
	}
	// Disconnected: held, then sent when the connection is back (a receipt sent in between
	// would be marked as sent with the link down).
	f.set(func(f *sendFakeClient) { f.linkUp = false })
	d.DispatchEvent(&events.Disconnected{})
	if err := c.MarkRead(context.Background(), recvAlicePN, []store.Message{{ID: "D1", ChatJID: recvAlicePN, Sender: recvAlicePN}}); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "read receipts wait for the connection")
	f.set(func(f *sendFakeClient) { f.linkUp = true })
	d.DispatchEvent(&events.Connected{})
	// Sent only after the reconnect: the receipt goroutine checks the connection when rung.
	if got, w := f.nextReads(t, 1)[0], recvAlicePN+" "+recvAlicePN+" D1 "+at; got != w {
		t.Fatalf("receipt after reconnect %q, want %q", got, w)
	}
	if _, all := f.snapshot(); len(all) != len(want)+1 {
		t.Fatalf("receipts %q: one went out twice", all)
	}
	if err := c.MarkRead(context.Background(), "not a jid@x", msgs); err == nil {
		t.Error("a bad chat JID was accepted")
	}
}

// closeCount counts Close calls.
type closeCount struct{ n atomic.Int32 }

func (c *closeCount) Close() error { c.n.Add(1); return nil }

// TestDisconnectClosesStore: the whatsmeow database a factory opened for the channel is
// closed once the channel has stopped, once however often Disconnect is called, so a host
// that connects WhatsApp again (paired while running) does not keep the old one open.
func TestDisconnectClosesStore(t *testing.T) {
	st := &closeCount{}
	c, _, _ := newSendChannel(t, Options{Store: st})
	ctx, cancel := context.WithTimeout(context.Background(), sendWait)
	defer cancel()
	for range 2 {
		if err := c.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.n.Load(); n != 1 {
		t.Fatalf("store closed %d times, want 1", n)
	}
}

// TestReplyEndsWorkingPresence: on a shared number a reply queued in the last chat the
// assistant typed in takes the account offline (the host keeps typing on until its
// container exits, which may be long after); typing again goes online again.
func TestReplyEndsWorkingPresence(t *testing.T) {
	c, cli, f, _, logs := newDispatchChannel(t, "wa_replypresence_test")
	cli.DangerousInternals().DispatchEvent(&events.Connected{})
	ctx := context.Background()
	for _, s := range []func() error{
		func() error { return c.SetTyping(ctx, recvGroup, true) },
		func() error { return c.SetTyping(ctx, recvAlicePN, true) },
		func() error { return c.Send(ctx, recvGroup, "first answer") },
	} {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	f.next(t) // the reply went out; Alice's chat still types, so the account stays online
	if err := c.Send(ctx, recvAlicePN, "second answer"); err != nil {
		t.Fatal(err)
	}
	f.next(t)
	logs.waitCount(t, "presence=unavailable", 2) // connect, then the last reply
	if err := c.SetTyping(ctx, recvGroup, true); err != nil {
		t.Fatal(err)
	}
	p, _ := f.snapshot()
	want := []types.Presence{types.PresenceUnavailable, types.PresenceAvailable, types.PresenceUnavailable, types.PresenceAvailable}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("presences %v, want %v", p, want)
	}
}
