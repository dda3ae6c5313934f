package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// wait bounds every blocking step in the tests; nothing sleeps.
const wait = 10 * time.Second

// event is one Sink call: exactly one field is set.
type event struct {
	meta *channel.ChatMeta
	msg  *store.Message
}

// fakeSink records Sink calls in order. fail, when set, makes OnMessage fail.
type fakeSink struct {
	events chan event
	mu     sync.Mutex
	fail   error
}

func newSink() *fakeSink { return newSinkCap(10000) }

func newSinkCap(n int) *fakeSink { return &fakeSink{events: make(chan event, n)} }

func (s *fakeSink) OnChatMetadata(_ context.Context, m channel.ChatMeta) error {
	s.events <- event{meta: &m}
	return nil
}

func (s *fakeSink) OnMessage(_ context.Context, m store.Message) error {
	s.mu.Lock()
	err := s.fail
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.events <- event{msg: &m}
	return nil
}

func (s *fakeSink) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *fakeSink) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-time.After(wait):
		t.Fatal("timed out waiting for the sink")
		return event{}
	}
}

// message reads a metadata event followed by its message, checking the order.
func (s *fakeSink) message(t *testing.T) (channel.ChatMeta, store.Message) {
	t.Helper()
	e := s.next(t)
	if e.meta == nil {
		t.Fatalf("sink got a message before chat metadata: %+v", e.msg)
	}
	m := s.next(t)
	if m.msg == nil {
		t.Fatalf("sink got metadata twice: %+v", m.meta)
	}
	if e.meta.JID != m.msg.ChatJID {
		t.Fatalf("metadata for %s, message for %s", e.meta.JID, m.msg.ChatJID)
	}
	return *e.meta, *m.msg
}

func (s *fakeSink) empty(t *testing.T) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Fatalf("unexpected sink call: meta=%+v msg=%+v", e.meta, e.msg)
	default:
	}
}

// sockPath is a socket path short enough for sun_path (108 bytes); t.TempDir can be longer.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "chat.sock")
}

func newChannel(t *testing.T, sink channel.Sink) *Channel {
	t.Helper()
	return New(channel.Options{Sink: sink, AssistantName: "Andy"}, sockPath(t))
}

func start(t *testing.T, c *Channel) {
	t.Helper()
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := c.Disconnect(ctx); err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})
}

// tclient is a raw protocol client.
type tclient struct {
	conn net.Conn
	sc   *bufio.Scanner
}

func dial(t *testing.T, path string) *tclient {
	t.Helper()
	conn, err := net.DialTimeout("unix", path, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 4096), 4<<20)
	return &tclient{conn: conn, sc: sc}
}

func (c *tclient) raw(t *testing.T, line string) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *tclient) send(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	c.raw(t, string(b))
}

// line reads the next host line; ok is false at EOF.
func (c *tclient) line(t *testing.T) (string, bool) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	if c.sc.Scan() {
		return c.sc.Text(), true
	}
	if err := c.sc.Err(); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("timed out waiting for the host")
		}
	}
	return "", false
}

func (c *tclient) next(t *testing.T) hostFrame {
	t.Helper()
	l, ok := c.line(t)
	if !ok {
		t.Fatal("connection closed, want a frame")
	}
	var f hostFrame
	if err := json.Unmarshal([]byte(l), &f); err != nil {
		t.Fatalf("bad host line %q: %v", l, err)
	}
	return f
}

func (c *tclient) expect(t *testing.T, typ, id string) hostFrame {
	t.Helper()
	f := c.next(t)
	if f.Type != typ || f.ID != id {
		t.Fatalf("got %+v, want type %q id %q", f, typ, id)
	}
	return f
}

func (c *tclient) expectClosed(t *testing.T) {
	t.Helper()
	if l, ok := c.line(t); ok {
		t.Fatalf("got %q, want the connection closed", l)
	}
}

func (c *tclient) hello(t *testing.T, chat, name string) {
	t.Helper()
	c.send(t, map[string]string{"type": "hello", "chat": chat, "name": name})
	c.expect(t, typeAck, "")
}

func (c *tclient) say(t *testing.T, text, id string) {
	t.Helper()
	c.send(t, map[string]string{"type": "message", "text": text, "id": id})
}
