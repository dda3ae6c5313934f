package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// echoAgent answers every user message the sink stores with "re: <text>", playing the host.
func echoAgent(t *testing.T, c *Channel, sink *fakeSink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-sink.events:
				if e.msg != nil && !e.msg.IsBotMessage {
					_ = c.SetTyping(ctx, e.msg.ChatJID, true)
					_ = c.Send(ctx, e.msg.ChatJID, "re: "+e.msg.Content+" from "+e.msg.Sender)
				}
			}
		}
	}()
}

func runChat(t *testing.T, ctx context.Context, path string, opts ChatOptions, in string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out bytes.Buffer
	err := Chat(ctx, path, opts, strings.NewReader(in), &out)
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("Chat ran into the test deadline; output so far %q", out.String())
	}
	return out.String(), err
}

// TestChatEndToEnd: the banner and typing lines go to Info, the conversation to out with
// the assistant's replies labelled with its name.
func TestChatEndToEnd(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	// Sent while nobody listens: arrives first, and does not count as a reply.
	if err := c.Send(context.Background(), "local:work", "earlier"); err != nil {
		t.Fatal(err)
	}
	echoAgent(t, c, sink)

	var info bytes.Buffer
	out, err := runChat(t, context.Background(), c.SocketPath(),
		ChatOptions{Chat: "work", Name: "bob", Replies: 2, Info: &info}, "ping\n\n  \npong\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "Andy: earlier\n\nAndy: re: ping from local:user:bob\n\nAndy: re: pong from local:user:bob\n\n"
	if out != want {
		t.Fatalf("output\n%q\nwant\n%q", out, want)
	}
	wantInfo := "Chatting in local:work with Andy. Type a message and press Enter; Ctrl-D or Ctrl-C to quit.\n\n" +
		"… Andy is typing\n… Andy is typing\n"
	if info.String() != wantInfo {
		t.Fatalf("info\n%q\nwant\n%q", info.String(), wantInfo)
	}
}

// TestChatWithoutInfo: with no Info writer only the conversation is printed.
func TestChatWithoutInfo(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	echoAgent(t, c, sink)
	out, err := runChat(t, context.Background(), c.SocketPath(), ChatOptions{Replies: 1}, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if out != "Andy: re: hi from local:user:user\n\n" {
		t.Fatalf("output %q", out)
	}
}

// TestChatBannerNamesGroup: the banner says which registered group the chat is.
func TestChatBannerNamesGroup(t *testing.T) {
	c := New(channel.Options{Sink: newSink(), AssistantName: "Bea", RegisteredGroup: func(jid string) (store.Group, bool) {
		return store.Group{JID: jid, Name: "Family"}, true
	}}, sockPath(t))
	start(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info := &notifyWriter{wrote: make(chan struct{}, 1)}
	pr, pw := io.Pipe()
	defer pw.Close()
	errc := make(chan error, 1)
	go func() { errc <- Chat(ctx, c.SocketPath(), ChatOptions{Chat: "family", Info: info}, pr, io.Discard) }()
	select {
	case <-info.wrote:
	case <-time.After(wait):
		t.Fatal("no banner")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if want := "Chatting in local:family (Family) with Bea."; !strings.HasPrefix(info.String(), want) {
		t.Fatalf("banner %q, want it to start %q", info.String(), want)
	}
}

// TestChatUnregisteredRefused: joining a chat that is not registered fails at once with
// the command that registers it.
func TestChatUnregisteredRefused(t *testing.T) {
	c := New(channel.Options{Sink: newSink(), AssistantName: "Andy", RegisteredGroup: func(string) (store.Group, bool) {
		return store.Group{}, false
	}}, sockPath(t))
	start(t, c)
	_, err := runChat(t, context.Background(), c.SocketPath(), ChatOptions{Chat: "nope"}, "hello?\n")
	if err == nil || !strings.Contains(err.Error(), "nanoclaw groups add --jid local:nope") {
		t.Fatalf("err = %v", err)
	}
}

// TestChatShowsOthers: two people in one chat see each other's lines, labelled.
func TestChatShowsOthers(t *testing.T) {
	c := newChannel(t, newSink())
	start(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	watcher := &notifyWriter{wrote: make(chan struct{}, 1)}
	joined := &notifyWriter{wrote: make(chan struct{}, 1)}
	pr, pw := io.Pipe()
	defer pw.Close()
	errc := make(chan error, 1)
	go func() { errc <- Chat(ctx, c.SocketPath(), ChatOptions{Name: "alice", Info: joined}, pr, watcher) }()
	select {
	case <-joined.wrote: // the banner: alice is attached
	case <-ctx.Done():
		t.Fatal("alice never joined")
	}
	bobCtx, bobDone := context.WithCancel(ctx)
	bobErr := make(chan error, 1)
	go func() {
		bobErr <- Chat(bobCtx, c.SocketPath(), ChatOptions{Name: "bob"}, strings.NewReader("hello alice\n"), io.Discard)
	}()
	select {
	case <-watcher.wrote:
	case <-ctx.Done():
		t.Fatal("alice never saw bob's line")
	}
	bobDone()
	if err := <-bobErr; err != nil {
		t.Fatal(err)
	}
	if got := watcher.String(); got != "bob: hello alice\n\n" {
		t.Fatalf("alice saw %q", got)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// notifyWriter signals each write, so a test can wait for output.
type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestChatEndsWithContext(t *testing.T) {
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	echoAgent(t, c, sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &notifyWriter{wrote: make(chan struct{}, 1)}
	pr, pw := io.Pipe() // stdin that never ends
	defer pw.Close()
	errc := make(chan error, 1)
	go func() { errc <- Chat(ctx, c.SocketPath(), ChatOptions{}, pr, w) }()
	if _, err := io.WriteString(pw, "hello\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.wrote:
	case <-time.After(wait):
		t.Fatal("no reply printed")
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Chat after cancel: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Chat ignored the cancelled context")
	}
	if w.String() != "Andy: re: hello from local:user:user\n\n" {
		t.Fatalf("output %q", w.String())
	}
}

func TestChatErrors(t *testing.T) {
	t.Run("no host", func(t *testing.T) {
		path := sockPath(t)
		_, err := runChat(t, context.Background(), path, ChatOptions{}, "")
		if !errors.Is(err, ErrNoHost) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), "start it with `nanoclaw run`") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("invalid chat", func(t *testing.T) {
		if _, err := runChat(t, context.Background(), sockPath(t), ChatOptions{Chat: "a b"}, ""); err == nil {
			t.Fatal("invalid chat accepted")
		}
	})
	sink := newSink()
	c := newChannel(t, sink)
	start(t, c)
	t.Run("host refuses the hello", func(t *testing.T) {
		_, err := runChat(t, context.Background(), c.SocketPath(), ChatOptions{Name: "bad\x01name"}, "")
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("refused line is printed, chat goes on", func(t *testing.T) {
		sink.setFail(errors.New("disk full"))
		t.Cleanup(func() { sink.setFail(nil) })
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		w := &notifyWriter{wrote: make(chan struct{}, 1)}
		errc := make(chan error, 1)
		go func() { errc <- Chat(ctx, c.SocketPath(), ChatOptions{Replies: 1}, strings.NewReader("x\n"), w) }()
		select {
		case <-w.wrote:
		case <-ctx.Done():
			t.Fatal("no error printed")
		}
		if !strings.HasPrefix(w.String(), "[error] not stored: message: disk full") {
			t.Fatalf("output %q", w.String())
		}
		// Input done and resolved: the next assistant message ends the chat.
		if err := c.Send(ctx, DefaultChat, "bye"); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(w.String(), "Andy: bye\n\n") {
			t.Fatalf("output %q", w.String())
		}
	})
	t.Run("host goes away", func(t *testing.T) {
		c2 := newChannel(t, newSink())
		if err := c2.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		w := &notifyWriter{wrote: make(chan struct{}, 1)}
		errc := make(chan error, 1)
		go func() { errc <- Chat(ctx, c2.SocketPath(), ChatOptions{}, pr, w) }()
		// Wait until attached: the message reaches the client live or from the backlog.
		if err := c2.Send(ctx, DefaultChat, "ready?"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.wrote:
		case <-ctx.Done():
			t.Fatal("never attached")
		}
		if err := c2.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrHostStopped) {
			t.Fatalf("err = %v, want ErrHostStopped", err)
		}
	})
	t.Run("host vanishes without a word", func(t *testing.T) {
		path := sockPath(t)
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() { // a host that acks the hello, then dies
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			sc := bufio.NewScanner(conn)
			sc.Scan()
			_, _ = io.WriteString(conn, `{"type":"ack"}`+"\n")
			conn.Close()
		}()
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := Chat(ctx, path, ChatOptions{}, pr, io.Discard); !errors.Is(err, ErrHostLost) {
			t.Fatalf("err = %v, want ErrHostLost", err)
		}
	})
}

var _ channel.Sink = (*fakeSink)(nil)

// TestTerminalSafe: an agent's reply cannot drive the operator's terminal.
func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ntext\twith tab":      "plain\ntext\twith tab",
		"\x1b[2J\x1b]0;pwned\x07 hi": `\x1b[2J\x1b]0;pwned\a hi`,
		"carriage\rreturn":           `carriage\rreturn`,
		"bad \xff byte":              `bad \xff byte`,
		"héllo ✓":                    "héllo ✓",
		"bidi \u202e trick":          `bidi \u202e trick`,
	} {
		if got := terminalSafe(in); got != want {
			t.Errorf("terminalSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
