package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

func TestFactory(t *testing.T) {
	dir := t.TempDir()
	ch, err := Factory(channel.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := ch.(*Channel)
	if c.SocketPath() != SocketPath(dir) || !strings.HasSuffix(c.SocketPath(), "/chat.sock") {
		t.Fatalf("socket path %s", c.SocketPath())
	}
	if ch.Name() != "local" || ch.MaxMessageLen() != 0 {
		t.Fatalf("name %q, max %d", ch.Name(), ch.MaxMessageLen())
	}
	if _, err := Factory(channel.Options{}); err == nil {
		t.Fatal("Factory without a data dir succeeded")
	}
}

func TestOwnsJID(t *testing.T) {
	c := New(channel.Options{}, "unused")
	for jid, want := range map[string]bool{
		"local:main":          true,
		"local:":              true,
		"local:anything/else": true,
		"LOCAL:main":          false,
		"main":                false,
		"120363@g.us":         false,
		"tg:local:main":       false,
		"1234@s.whatsapp.net": false,
	} {
		if got := c.OwnsJID(jid); got != want {
			t.Errorf("OwnsJID(%q) = %v, want %v", jid, got, want)
		}
	}
}

func TestHelloMessageAck(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.hello(t, "local:main", "alice")
	cl.say(t, "hello there", "m1")
	cl.expect(t, typeAck, "m1")

	meta, msg := sink.message(t)
	if meta.JID != "local:main" || meta.Name != "main" || meta.Channel != "local" || !meta.IsGroup || meta.Time.IsZero() {
		t.Errorf("meta = %+v", meta)
	}
	if msg.ChatJID != "local:main" || msg.Sender != "local:user:alice" || msg.SenderName != "alice" ||
		msg.Content != "hello there" || msg.IsFromMe || msg.IsBotMessage || !strings.HasPrefix(msg.ID, "local-") {
		t.Errorf("msg = %+v", msg)
	}
	if _, err := time.Parse(tsLayout, msg.Timestamp); err != nil || len(msg.Timestamp) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("timestamp %q: %v", msg.Timestamp, err)
	}
	if got := meta.Time.Format(tsLayout); got != msg.Timestamp {
		t.Errorf("meta time %s, message time %s", got, msg.Timestamp)
	}

	// A message without a client id is acked with an empty id; ids are unique.
	cl.say(t, "again", "")
	cl.expect(t, typeAck, "")
	_, msg2 := sink.message(t)
	if msg2.ID == msg.ID {
		t.Errorf("duplicate message id %s", msg.ID)
	}
}

func TestHelloDefaults(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.raw(t, `{"type":"hello","id":"h"}`)
	cl.expect(t, typeAck, "h")
	cl.say(t, "hi", "1")
	cl.expect(t, typeAck, "1")
	_, msg := sink.message(t)
	if msg.ChatJID != DefaultChat || msg.Sender != "local:user:user" || msg.SenderName != "user" {
		t.Errorf("msg = %+v", msg)
	}
}

// Errors before the hello close the connection; after it, a bad line gets an error reply
// and the connection stays usable.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name   string
		hello  bool   // say a valid hello first
		line   string // the offending line
		errHas string
		closed bool
	}{
		{"message before hello", false, `{"type":"message","text":"hi","id":"x"}`, "hello first", true},
		{"bad JSON before hello", false, `{"type":`, "invalid JSON", true},
		{"invalid chat", false, `{"type":"hello","chat":"tg:1"}`, "invalid chat", true},
		{"chat with slash", false, `{"type":"hello","chat":"local:../etc"}`, "invalid chat", true},
		{"control char in name", false, `{"type":"hello","name":"a\nb"}`, "invalid name", true},
		{"bad JSON", true, `not json`, "invalid JSON", false},
		{"trailing garbage", true, `{"type":"message","text":"a"} {}`, "invalid JSON", false},
		{"wrong field type", true, `{"type":"message","text":5}`, "invalid JSON", false},
		{"unknown type", true, `{"type":"shout","text":"a"}`, "unknown type", false},
		{"missing type", true, `{"text":"a"}`, "missing type", false},
		{"empty text", true, `{"type":"message","text":"  ","id":"e"}`, "empty message", false},
		{"second hello", true, `{"type":"hello"}`, "already said hello", false},
	}
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := dial(t, c.SocketPath())
			if tt.hello {
				cl.hello(t, "local:errs", "e")
			}
			cl.raw(t, tt.line)
			f := cl.next(t)
			if f.Type != typeError || !strings.Contains(f.Error, tt.errHas) {
				t.Fatalf("got %+v, want an error containing %q", f, tt.errHas)
			}
			if tt.closed {
				cl.expectClosed(t)
				return
			}
			cl.say(t, "still here", "ok")
			cl.expect(t, typeAck, "ok")
			_, msg := sink.message(t)
			if msg.Content != "still here" {
				t.Fatalf("stored %q", msg.Content)
			}
		})
	}
	sink.empty(t)
}

func TestErrorCarriesClientID(t *testing.T) {
	c := newChannel(t, newSink())
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.hello(t, "", "")
	cl.raw(t, `{"type":"message","text":"","id":"e7"}`)
	cl.expect(t, typeError, "e7")
}

func TestBlankLinesIgnored(t *testing.T) {
	c := newChannel(t, newSink())
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.raw(t, "")
	cl.raw(t, "   \r")
	cl.hello(t, "", "")
	cl.raw(t, "")
	cl.say(t, "x", "1")
	cl.expect(t, typeAck, "1")
}

func TestSinkFailure(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.hello(t, "", "bob")
	sink.setFail(errors.New("disk full"))
	cl.say(t, "lost?", "f1")
	f := cl.expect(t, typeError, "f1")
	if !strings.Contains(f.Error, "disk full") {
		t.Errorf("error %q", f.Error)
	}
	sink.setFail(nil)
	sink.next(t) // the metadata of the failed attempt
	cl.say(t, "retry", "f2")
	cl.expect(t, typeAck, "f2")
	if _, msg := sink.message(t); msg.Content != "retry" {
		t.Errorf("stored %q", msg.Content)
	}
}

func TestOversizeLine(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)

	// Exactly MaxLine bytes is fine.
	cl := dial(t, c.SocketPath())
	cl.hello(t, "", "")
	prefix, suffix := `{"type":"message","id":"big","text":"`, `"}`
	text := strings.Repeat("a", MaxLine-len(prefix)-len(suffix))
	cl.raw(t, prefix+text+suffix)
	cl.expect(t, typeAck, "big")
	if _, msg := sink.message(t); len(msg.Content) != len(text) {
		t.Fatalf("stored %d bytes", len(msg.Content))
	}

	// One byte more is refused and the connection closes.
	cl2 := dial(t, c.SocketPath())
	cl2.hello(t, "", "")
	go func() { // the host may close before reading it all
		_, _ = io.WriteString(cl2.conn, prefix+text+"a"+suffix+"\n")
	}()
	f := cl2.next(t)
	if f.Type != typeError || !strings.Contains(f.Error, "longer than") {
		t.Fatalf("got %+v", f)
	}
	cl2.expectClosed(t)
	sink.empty(t)
}

func TestTimestampsStrictlyIncreasing(t *testing.T) {
	t.Run("burst over a socket", func(t *testing.T) {
		sink := newSink()
		c := newChannel(t, sink)
		frozen := time.Date(2026, 3, 1, 12, 0, 0, 500_000, time.UTC)
		c.now = func() time.Time { return frozen }
		start(t, c)
		cl := dial(t, c.SocketPath())
		cl.hello(t, "", "")
		const n = 50
		for i := range n {
			cl.say(t, fmt.Sprint("m", i), fmt.Sprint(i))
		}
		for i := range n {
			cl.expect(t, typeAck, fmt.Sprint(i))
		}
		prev := ""
		for i := range n {
			_, msg := sink.message(t)
			if msg.Timestamp <= prev {
				t.Fatalf("message %d: %s not after %s", i, msg.Timestamp, prev)
			}
			prev = msg.Timestamp
		}
		if want := frozen.Truncate(time.Millisecond).Add((n - 1) * time.Millisecond).Format(tsLayout); prev != want {
			t.Errorf("last timestamp %s, want %s", prev, want)
		}
		// The assistant's echo continues the same sequence.
		if err := c.Send(context.Background(), DefaultChat, "reply"); err != nil {
			t.Fatal(err)
		}
		cl.expect(t, typeMessage, "")
		if _, msg := sink.message(t); msg.Timestamp <= prev {
			t.Errorf("echo %s not after %s", msg.Timestamp, prev)
		}
	})
	t.Run("clock going backwards, chats independent", func(t *testing.T) {
		c := New(channel.Options{}, "unused")
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := []time.Time{base, base.Add(-time.Second), base.Add(time.Second), base}
		i := 0
		c.now = func() time.Time { i++; return clock[i-1] }
		steps := []struct{ chat, want string }{
			{"local:a", "2026-03-01T12:00:00.000Z"},
			{"local:a", "2026-03-01T12:00:00.001Z"},
			{"local:a", "2026-03-01T12:00:01.000Z"},
			{"local:b", "2026-03-01T12:00:00.000Z"},
		}
		for _, s := range steps {
			if got := c.nextTimestamp(s.chat).Format(tsLayout); got != s.want {
				t.Errorf("%s: got %s, want %s", s.chat, got, s.want)
			}
		}
	})
}

func TestSendToAttachedClient(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	main := dial(t, c.SocketPath())
	main.hello(t, "local:main", "alice")
	other := dial(t, c.SocketPath())
	other.hello(t, "local:other", "bob")
	ctx := context.Background()

	if err := c.Send(ctx, "local:main", "hi alice\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if f := main.expect(t, typeMessage, ""); f.Text != "hi alice\nsecond line" {
		t.Errorf("text %q", f.Text)
	}
	meta, msg := sink.message(t)
	if meta.JID != "local:main" || meta.Channel != "local" {
		t.Errorf("echo meta %+v", meta)
	}
	if !msg.IsFromMe || !msg.IsBotMessage || msg.Sender != "local:assistant" || msg.SenderName != "Andy" ||
		msg.Content != "hi alice\nsecond line" || msg.ChatJID != "local:main" {
		t.Errorf("echo %+v", msg)
	}

	// The other chat saw nothing of it: its first frame is its own message.
	if err := c.Send(ctx, "local:other", "hi bob"); err != nil {
		t.Fatal(err)
	}
	if f := other.expect(t, typeMessage, ""); f.Text != "hi bob" {
		t.Errorf("other got %q", f.Text)
	}

	// Two clients on one chat both get it.
	main2 := dial(t, c.SocketPath())
	main2.hello(t, "local:main", "alice-laptop")
	if err := c.Send(ctx, "local:main", "both"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*tclient{main, main2} {
		if f := cl.expect(t, typeMessage, ""); f.Text != "both" {
			t.Errorf("got %q", f.Text)
		}
	}

	for _, jid := range []string{"tg:1", "local:", "local:a/b"} {
		if err := c.Send(ctx, jid, "x"); err == nil {
			t.Errorf("Send(%q) succeeded", jid)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Send(cancelled, "local:main", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled ctx: %v", err)
	}
}

func TestBacklog(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	ctx := context.Background()
	for _, text := range []string{"one", "two", "three"} {
		if err := c.Send(ctx, "local:main", text); err != nil {
			t.Fatal(err)
		}
		if _, msg := sink.message(t); msg.Content != text || !msg.IsBotMessage {
			t.Errorf("echo of a backlogged message: %+v", msg)
		}
	}
	// A client on another chat does not take the backlog.
	other := dial(t, c.SocketPath())
	other.hello(t, "local:other", "")

	// The backlog comes in order, then the hello ack.
	cl := dial(t, c.SocketPath())
	cl.send(t, map[string]string{"type": "hello", "id": "h"})
	for _, want := range []string{"one", "two", "three"} {
		if f := cl.expect(t, typeMessage, ""); f.Text != want {
			t.Fatalf("got %q, want %q", f.Text, want)
		}
	}
	cl.expect(t, typeAck, "h")
	// Delivered once: a second client gets only new messages.
	cl2 := dial(t, c.SocketPath())
	cl2.hello(t, "local:main", "")
	if err := c.Send(ctx, "local:main", "four"); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*tclient{cl, cl2} {
		if f := x.expect(t, typeMessage, ""); f.Text != "four" {
			t.Fatalf("got %q, want four", f.Text)
		}
	}
}

func TestBacklogBounded(t *testing.T) {
	c := newChannel(t, nil) // no sink: echoes fail and are only logged
	start(t, c)
	const extra = 5
	for i := range backlogLimit + extra {
		if err := c.Send(context.Background(), "local:main", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	cl := dial(t, c.SocketPath())
	cl.raw(t, `{"type":"hello"}`)
	for i := extra; i < backlogLimit+extra; i++ {
		if f := cl.expect(t, typeMessage, ""); f.Text != fmt.Sprint(i) {
			t.Fatalf("got %q, want %d", f.Text, i)
		}
	}
	cl.expect(t, typeAck, "")
}

func TestTyping(t *testing.T) {
	c := newChannel(t, newSink())
	start(t, c)
	ctx := context.Background()
	// A client joining while the assistant works is told so right after its hello.
	if err := c.SetTyping(ctx, "local:main", true); err != nil {
		t.Fatal(err)
	}
	cl := dial(t, c.SocketPath())
	cl.hello(t, "", "")
	if f := cl.expect(t, typeTyping, ""); !f.On {
		t.Error("typing on arrived as off")
	}
	if err := c.SetTyping(ctx, "local:main", false); err != nil {
		t.Fatal(err)
	}
	if l, _ := cl.line(t); l != `{"type":"typing","on":false}` {
		t.Errorf("typing off line %q", l)
	}
	// Once it stopped, a new client hears nothing about typing: the next frame is the
	// message sent after its hello.
	cl2 := dial(t, c.SocketPath())
	cl2.hello(t, "", "")
	if err := c.Send(ctx, "local:main", "done"); err != nil {
		t.Fatal(err)
	}
	if f := cl2.next(t); f.Type != typeMessage || f.Text != "done" || f.Name != "Andy" {
		t.Errorf("after typing stopped, got %+v", f)
	}
}

// TestHelloAckNamesAssistantAndGroup: the hello ack tells the client who answers and in
// which group, for its banner.
func TestHelloAckNamesAssistantAndGroup(t *testing.T) {
	c := New(channel.Options{Sink: newSink(), AssistantName: "Andy", RegisteredGroup: func(jid string) (store.Group, bool) {
		return store.Group{JID: jid, Name: "Family"}, jid == "local:family"
	}}, sockPath(t))
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.send(t, map[string]string{"type": "hello", "chat": "local:family", "id": "h"})
	if f := cl.expect(t, typeAck, "h"); f.Assistant != "Andy" || f.Group != "Family" {
		t.Fatalf("hello ack %+v", f)
	}
}

// TestUnregisteredChatRefused: a hello for a chat that is not a registered group is refused
// at once with the command that registers it, and the connection closes; nothing is stored.
func TestUnregisteredChatRefused(t *testing.T) {
	sink := newSink()
	c := New(channel.Options{Sink: sink, AssistantName: "Andy", RegisteredGroup: func(jid string) (store.Group, bool) {
		return store.Group{JID: jid, Name: "Main"}, jid == "local:main"
	}}, sockPath(t))
	start(t, c)
	for _, tc := range []struct{ chat, command string }{
		{"local:nope", "nanoclaw groups add --jid local:nope --folder nope --name nope"},
		{"local:my.chat", "nanoclaw groups add --jid local:my.chat --folder my_chat --name my.chat"},
	} {
		cl := dial(t, c.SocketPath())
		cl.send(t, map[string]string{"type": "hello", "chat": tc.chat, "id": "h"})
		f := cl.expect(t, typeError, "h")
		if !strings.Contains(f.Error, "not a registered chat") || !strings.Contains(f.Error, tc.command) {
			t.Errorf("%s: refusal %q lacks %q", tc.chat, f.Error, tc.command)
		}
		cl.expectClosed(t)
	}
	cl := dial(t, c.SocketPath())
	cl.hello(t, "local:main", "")
	sink.empty(t)
}

// TestOthersMessagesShown: a message one client sends reaches the other clients in the same
// chat (with its sender's name) before its sender's ack, never the sender itself, and no
// client of another chat.
func TestOthersMessagesShown(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	alice := dial(t, c.SocketPath())
	alice.hello(t, "local:main", "alice")
	bob := dial(t, c.SocketPath())
	bob.hello(t, "local:main", "bob")
	other := dial(t, c.SocketPath())
	other.hello(t, "local:other", "carol")
	alice.say(t, "hi bob", "1")
	alice.expect(t, typeAck, "1")
	if f := bob.next(t); f.Type != typeSaid || f.Name != "alice" || f.Text != "hi bob" {
		t.Fatalf("bob got %+v", f)
	}
	// The next frame each gets is the assistant's message: alice saw no echo of her own
	// line, carol nothing from another chat.
	for _, chat := range []string{"local:main", "local:other"} {
		if err := c.Send(context.Background(), chat, "marker"); err != nil {
			t.Fatal(err)
		}
	}
	for name, cl := range map[string]*tclient{"alice": alice, "bob": bob, "carol": other} {
		if f := cl.next(t); f.Type != typeMessage || f.Text != "marker" {
			t.Errorf("%s got %+v before the marker", name, f)
		}
	}
}

func TestSocketMode(t *testing.T) {
	c := newChannel(t, newSink())
	start(t, c)
	fi, err := os.Stat(c.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
}

func TestStaleSocket(t *testing.T) {
	t.Run("stale socket file is replaced", func(t *testing.T) {
		path := sockPath(t)
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close() // the file stays, nobody answers: a crashed host
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		c := New(channel.Options{Sink: newSink()}, path)
		start(t, c)
		dial(t, path).hello(t, "", "")
	})
	t.Run("live socket is an error", func(t *testing.T) {
		c := newChannel(t, newSink())
		start(t, c)
		c2 := New(channel.Options{}, c.SocketPath())
		if err := c2.Connect(context.Background()); err == nil || !strings.Contains(err.Error(), "already serving") {
			t.Fatalf("second host on a live socket: %v", err)
		}
		dial(t, c.SocketPath()).hello(t, "", "") // the first still serves
	})
	t.Run("a non-socket file is left alone", func(t *testing.T) {
		path := sockPath(t)
		if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := New(channel.Options{}, path).Connect(context.Background()); err == nil {
			t.Fatal("Connect replaced a regular file")
		}
		if b, _ := os.ReadFile(path); string(b) != "precious" {
			t.Fatal("file changed")
		}
	})
}

func TestDisconnect(t *testing.T) {
	c := newChannel(t, newSink())
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(context.Background()); err == nil {
		t.Error("second Connect succeeded")
	}
	cl := dial(t, c.SocketPath())
	cl.hello(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.SocketPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there: %v", err)
	}
	if f := cl.next(t); f.Type != typeBye || !strings.Contains(f.Text, "stopped") {
		t.Errorf("before closing, got %+v, want a bye", f)
	}
	cl.expectClosed(t)
	if err := c.Send(ctx, "local:main", "late"); err == nil {
		t.Error("Send after Disconnect succeeded")
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
	if err := New(channel.Options{}, "unused").Disconnect(ctx); err != nil {
		t.Errorf("Disconnect before Connect: %v", err)
	}
}

// A client that stops reading is dropped once its queue fills; Send never waits on it and
// a reading client on the same chat gets everything.
func TestStalledClientDoesNotBlockSend(t *testing.T) {
	c := newChannel(t, nil)
	start(t, c)
	stalled := dial(t, c.SocketPath())
	stalled.hello(t, "", "stalled")
	reader := dial(t, c.SocketPath())
	reader.hello(t, "", "reader")

	const n = 2500 // more than the queue plus the kernel's socket buffer
	text := strings.Repeat("x", 1024)
	ctx := context.Background()
	var slowest time.Duration
	for i := range n {
		began := time.Now()
		if err := c.Send(ctx, "local:main", text); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(began))
		// Pace by the reader so only the stalled client falls behind.
		if f := reader.next(t); f.Type != typeMessage || f.Text != text {
			t.Fatalf("message %d: %+v", i, f.Type)
		}
	}
	// Waiting on the stalled client would cost at least the write timeout.
	if slowest >= writeTimeout/2 {
		t.Errorf("slowest Send took %v", slowest)
	}
	// The stalled client was cut off: it reads what the kernel held, then EOF.
	got := 0
	for {
		if _, ok := stalled.line(t); !ok {
			break
		}
		got++
	}
	if got >= n {
		t.Errorf("stalled client got all %d messages; it should have been dropped", got)
	}
}

// The fuzz harness and tests share this: a session that has said hello, without a socket.
func helloSession(t testing.TB, c *Channel) *session {
	cl := newClient(nopConn{})
	c.mu.Lock()
	c.clients[cl] = struct{}{}
	c.mu.Unlock()
	s := &session{c: c, cl: cl}
	if !s.handle(context.Background(), []byte(`{"type":"hello","chat":"local:fuzz","name":"f"}`)) {
		t.Fatal("hello refused")
	}
	return s
}

// nopConn is a net.Conn that is never written to: the session tests read the queue.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

func TestSessionWithoutSocket(t *testing.T) {
	sink := newSink()
	c := New(channel.Options{Sink: sink}, "unused")
	s := helloSession(t, c)
	if got := string(<-s.cl.out); got != `{"type":"ack","id":""}`+"\n" {
		t.Fatalf("hello reply %q", got)
	}
	if !s.handle(context.Background(), []byte(`{"type":"message","text":"hi","id":"1"}`)) {
		t.Fatal("message closed the session")
	}
	if got := string(<-s.cl.out); got != `{"type":"ack","id":"1"}`+"\n" {
		t.Fatalf("message reply %q", got)
	}
	if _, msg := sink.message(t); msg.ChatJID != "local:fuzz" || msg.Content != "hi" {
		t.Fatalf("stored %+v", msg)
	}
}
