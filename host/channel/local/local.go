// Package local is the local chat channel: a Unix socket in the data directory through which
// `nanoclaw chat` talks to the assistant from a terminal, so a newcomer needs no phone.
//
// Chats are "local:<name>" ("local:main" by default). The protocol is newline-delimited
// JSON, one object per line, at most MaxLine bytes a line.
//
// Client to host: first {"type":"hello","chat":"local:main","name":"alice"} (chat defaults
// to local:main, name to "user"), then {"type":"message","text":"…","id":"client id"}, or
// {"type":"file","file":"photo.jpg","data":"<base64>","text":"caption","id":…} for a file
// (at most MaxFileBytes; a line of up to MaxFileLine): the host takes it as a WhatsApp
// photo, voice note or document and keeps it in the group's folder for the agent.
//
// Host to client: {"type":"ack","id":…,"assistant":"Andy","group":"Family"} once the hello
// attached the client (after any messages kept while no client was attached, so what
// follows the ack is live; assistant and group name who answers and the registered group)
// and {"type":"ack","id":…} once the host stored a message; {"type":"error","id":…,
// "error":"…"} when a line is refused; {"type":"message","name":"Andy","text":"…"} for the
// assistant's messages; {"type":"said","name":"bob","text":"…"} for another client's message in the
// same chat; {"type":"typing","on":bool} (also right after the hello ack when the
// assistant is already working); {"type":"bye","text":"…"} before the host closes the
// connection because it stops.
//
// A hello for a chat that is not a registered group is refused at once, naming the command
// that registers it: nothing would ever answer there. Errors before a successful hello, and
// a line longer than MaxLine (but for a file frame), close the connection after the error
// reply. After the hello,
// a bad line (invalid JSON, unknown type, empty text) or a failed store gets an error reply
// and the connection stays usable.
package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

const (
	// Name is the channel's registered name.
	Name = "local"
	// DefaultChat is the chat a client joins when its hello names none.
	DefaultChat = "local:main"
	// MaxLine is the longest client line the host reads; a longer one closes the connection.
	// A file frame may be longer, up to MaxFileLine.
	MaxLine = 1 << 20
	// MaxFileBytes is the largest file one file frame carries (the host's media caps apply
	// on top), and MaxFileLine the longest file frame: its base64 and framing.
	MaxFileBytes = 32 << 20
	MaxFileLine  = MaxFileBytes/3*4 + 1<<20
	// SocketName is the socket's file name inside the data directory.
	SocketName = "chat.sock"

	jidPrefix      = "local:"
	defaultUser    = "user"
	assistantID    = "local:assistant"
	userPrefix     = "local:user:"
	backlogLimit   = 1000
	clientQueueLen = backlogLimit + 64 // room for a full backlog plus the hello ack
	writeTimeout   = 5 * time.Second
	tsLayout       = "2006-01-02T15:04:05.000Z"
)

var _ channel.Channel = (*Channel)(nil)

// SocketPath is where the host listens for a data directory, so `nanoclaw chat` dials the
// same path the Factory uses.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Factory builds the local channel on SocketPath(opts.DataDir). It is always configured:
// a host with no phone still has a way in.
func Factory(opts channel.Options) (channel.Channel, error) {
	if opts.DataDir == "" {
		return nil, errors.New("local chat: no data directory")
	}
	return New(opts, SocketPath(opts.DataDir)), nil
}

// Channel is the host side of the local chat.
type Channel struct {
	opts channel.Options
	log  hclog.Logger
	path string
	now  func() time.Time // the clock; tests replace it
	seq  atomic.Uint64    // message id counter

	mu        sync.Mutex
	ln        net.Listener
	connected bool
	closed    bool
	runCtx    context.Context
	cancel    context.CancelFunc
	clients   map[*client]struct{}
	attached  map[string]map[*client]struct{} // chat → clients that said hello to it
	backlog   map[string][][]byte             // chat → message frames nobody received yet
	typing    map[string]bool                 // chat → the assistant is working there now
	wg        sync.WaitGroup

	// sinkMu serialises calls to the Sink, so timestamps reach the store in the order
	// they were given and a poll never sees a later message before an earlier one.
	sinkMu sync.Mutex
	lastTS map[string]time.Time // chat → last timestamp given, under sinkMu
}

// New returns a local channel that will listen on socketPath once connected.
func New(opts channel.Options, socketPath string) *Channel {
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Channel{
		opts:     opts,
		log:      log.Named("local"),
		path:     socketPath,
		now:      time.Now,
		clients:  make(map[*client]struct{}),
		attached: make(map[string]map[*client]struct{}),
		backlog:  make(map[string][][]byte),
		typing:   make(map[string]bool),
		lastTS:   make(map[string]time.Time),
	}
}

// Name is "local".
func (c *Channel) Name() string { return Name }

// OwnsJID is true exactly for "local:" chats.
func (c *Channel) OwnsJID(jid string) bool { return strings.HasPrefix(jid, jidPrefix) }

// MaxMessageLen is 0: a terminal takes any length.
func (c *Channel) MaxMessageLen() int { return 0 }

// SocketPath is the socket this channel listens on.
func (c *Channel) SocketPath() string { return c.path }

// Connect creates the socket (mode 0600, so only this user can chat as the owner) and
// accepts clients until Disconnect. A stale socket file left by a crashed host is replaced;
// one that still answers means another host runs, which is an error. ctx bounds only the
// setup; the channel runs until Disconnect.
func (c *Channel) Connect(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("local chat: disconnected; build a new channel")
	}
	if c.connected {
		return errors.New("local chat: already connected")
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("local chat: %w", err)
	}
	if err := removeStale(ctx, c.path); err != nil {
		return err
	}
	ln, err := net.Listen("unix", c.path)
	if err != nil {
		return fmt.Errorf("local chat: listen on %s: %w", c.path, err)
	}
	if err := os.Chmod(c.path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("local chat: %w", err)
	}
	c.ln = ln
	c.connected = true
	c.runCtx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(1)
	go c.acceptLoop(ln)
	c.log.Info("local chat listening", "socket", c.path)
	return nil
}

// removeStale deletes a socket file nobody answers on. It leaves anything that is not a
// socket alone, so a wrong path never costs the user a file.
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local chat: %w", err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("local chat: %s exists and is not a socket", path)
	}
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	var d net.Dialer
	if conn, err := d.DialContext(dctx, "unix", path); err == nil {
		conn.Close()
		return fmt.Errorf("local chat: another nanoclaw host is already serving %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local chat: remove stale socket: %w", err)
	}
	return nil
}

func (c *Channel) acceptLoop(ln net.Listener) {
	defer c.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait a little instead of spinning.
			c.log.Warn("local chat: accept failed", "error", err)
			t := time.NewTimer(backoff)
			select {
			case <-c.runCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		cl := newClient(conn)
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.clients[cl] = struct{}{}
		c.wg.Add(2)
		c.mu.Unlock()
		go func() { defer c.wg.Done(); cl.writeLoop(c.log) }()
		go func() { defer c.wg.Done(); c.serve(cl) }()
	}
}

// serve reads one client's lines until it goes away.
func (c *Channel) serve(cl *client) {
	defer c.drop(cl)
	sess := &session{c: c, cl: cl}
	sc := bufio.NewScanner(cl.conn)
	sc.Buffer(make([]byte, 4096), MaxFileLine+1)
	for sc.Scan() {
		if !sess.handle(c.runCtx, sc.Bytes()) {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		cl.enqueue(errorFrame("", fmt.Sprintf("line longer than %d bytes", MaxFileLine)))
		c.detach(cl)
		cl.finish()
	}
}

// session is one client's protocol state.
type session struct {
	c     *Channel
	cl    *client
	chat  string
	name  string
	hello bool
}

// handle processes one line. It returns false when the connection must close; any error
// reply is queued before that.
func (s *session) handle(ctx context.Context, line []byte) bool {
	f, err := decodeClientLine(line)
	if errors.Is(err, errBlankLine) {
		return true
	}
	if len(line) > MaxLine && (err != nil || f.Type != typeFile) {
		s.cl.enqueue(errorFrame("", fmt.Sprintf("line longer than %d bytes", MaxLine)))
		s.c.detach(s.cl)
		s.cl.finish()
		return false
	}
	if !s.hello {
		if err == nil && f.Type != typeHello {
			err = errors.New("say hello first")
		}
		if err != nil {
			s.cl.enqueue(errorFrame(f.ID, err.Error()))
			s.cl.finish()
			return false
		}
		group, err := s.c.registered(f.Chat)
		if err != nil {
			s.cl.enqueue(errorFrame(f.ID, err.Error()))
			s.cl.finish()
			return false
		}
		s.chat, s.name, s.hello = f.Chat, f.Name, true
		s.c.attach(s.cl, s.chat, f.ID, group)
		s.c.log.Info("local chat attached", "chat", s.chat, "name", s.name)
		return true
	}
	if err == nil && f.Type == typeHello {
		err = errors.New("already said hello")
	}
	if err != nil {
		s.cl.enqueue(errorFrame(f.ID, err.Error()))
		return true
	}
	text := f.Text
	var files []channel.Media
	if f.Type == typeFile {
		m := fileMedia(f.File, f.Data)
		files = []channel.Media{m}
		if strings.TrimSpace(text) == "" {
			text = placeholder(m)
		}
	}
	if err := s.c.deliver(ctx, s.chat, userPrefix+s.name, s.name, text, false, files...); err != nil {
		s.c.log.Warn("local chat: store failed", "chat", s.chat, "error", err)
		s.cl.enqueue(errorFrame(f.ID, "not stored: "+err.Error()))
		return true
	}
	// Others see it before its sender's ack: once acked, every client in the chat has it.
	s.c.echo(s.cl, s.chat, s.name, text)
	s.cl.enqueue(ackFrame(f.ID))
	return true
}

// registered returns the registered group's name for chat, or an error that says how to
// register it. Without a lookup (tests, tools) every chat is accepted.
func (c *Channel) registered(chat string) (string, error) {
	if c.opts.RegisteredGroup == nil {
		return "", nil
	}
	g, ok := c.opts.RegisteredGroup(chat)
	if !ok {
		return "", fmt.Errorf("%s is not a registered chat, so nobody would answer there; register it with "+
			"`nanoclaw groups add --jid %s --folder %s --name %s --no-trigger-required` (or join another with --chat)",
			chat, chat, suggestFolder(chat), strings.TrimPrefix(chat, jidPrefix))
	}
	return g.Name, nil
}

// suggestFolder is a valid group folder for a valid local chat, so the command in the
// refusal works as given: its name with '.' (allowed in chat names, not in folders) made
// '_', and "global" (the global memory's folder) made "global-chat".
func suggestFolder(chat string) string {
	f := strings.ReplaceAll(strings.TrimPrefix(chat, jidPrefix), ".", "_")
	if !ipcpolicy.ValidFolder(f) && strings.EqualFold(f, "global") {
		f += "-chat"
	}
	return f
}

// echo shows a client's stored message to the other clients in its chat, so people sharing
// a chat see each other and not only the assistant. Nothing is kept for absent clients: the
// store has the history.
func (c *Channel) echo(from *client, chat, name, text string) {
	frame := saidFrame(name, text)
	c.mu.Lock()
	defer c.mu.Unlock()
	for cl := range c.attached[chat] {
		if cl == from {
			continue
		}
		if !cl.enqueue(frame) {
			c.log.Warn("local chat: client not reading, disconnecting it", "chat", chat)
			c.detachLocked(cl)
			delete(c.clients, cl)
			cl.close()
		}
	}
}

// attach joins cl to chat, hands over the chat's backlog and then acks the hello, all under
// the lock so no Send slips in between: whatever follows the ack is live.
func (c *Channel) attach(cl *client, chat, helloID, group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.clients[cl]; !ok {
		return // dropped meanwhile
	}
	set := c.attached[chat]
	if set == nil {
		set = make(map[*client]struct{})
		c.attached[chat] = set
	}
	set[cl] = struct{}{}
	cl.chat = chat
	for _, frame := range c.backlog[chat] {
		cl.enqueue(frame) // the queue has room for a whole backlog
	}
	delete(c.backlog, chat)
	cl.enqueue(helloAckFrame(helloID, c.opts.AssistantName, group))
	if c.typing[chat] {
		cl.enqueue(typingFrame(true))
	}
}

// detach stops Sends from reaching cl.
func (c *Channel) detach(cl *client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detachLocked(cl)
}

func (c *Channel) detachLocked(cl *client) {
	if set := c.attached[cl.chat]; set != nil {
		delete(set, cl)
		if len(set) == 0 {
			delete(c.attached, cl.chat)
		}
	}
}

// drop forgets cl; its writer flushes what is queued if finish was called, else closes.
func (c *Channel) drop(cl *client) {
	c.mu.Lock()
	c.detachLocked(cl)
	delete(c.clients, cl)
	c.mu.Unlock()
	cl.finish()
}

// deliver records chat metadata and then the message, with a timestamp strictly after the
// chat's previous one.
func (c *Channel) deliver(ctx context.Context, chat, sender, senderName, text string, fromBot bool, files ...channel.Media) error {
	if c.opts.Sink == nil {
		return errors.New("no sink")
	}
	c.sinkMu.Lock()
	defer c.sinkMu.Unlock()
	ts := c.nextTimestamp(chat)
	meta := channel.ChatMeta{
		JID:     chat,
		Name:    strings.TrimPrefix(chat, jidPrefix),
		Channel: Name,
		IsGroup: true, // so the main agent sees local chats in available_groups
		Time:    ts,
	}
	if err := c.opts.Sink.OnChatMetadata(ctx, meta); err != nil {
		return fmt.Errorf("chat metadata: %w", err)
	}
	msg := store.Message{
		ID:           fmt.Sprintf("local-%d-%d", ts.UnixNano(), c.seq.Add(1)),
		ChatJID:      chat,
		Sender:       sender,
		SenderName:   senderName,
		Content:      text,
		Timestamp:    ts.Format(tsLayout),
		IsFromMe:     fromBot,
		IsBotMessage: fromBot,
	}
	var err error
	if ms, ok := c.opts.Sink.(channel.MediaSink); ok && len(files) > 0 {
		err = ms.OnMediaMessage(ctx, msg, files)
	} else {
		err = c.opts.Sink.OnMessage(ctx, msg)
	}
	if err != nil {
		return fmt.Errorf("message: %w", err)
	}
	return nil
}

// nextTimestamp is now at millisecond precision, bumped past the chat's last timestamp:
// cursors compare timestamps as strings, so two messages in one millisecond must differ.
// Caller holds sinkMu.
func (c *Channel) nextTimestamp(chat string) time.Time {
	ts := c.now().UTC().Truncate(time.Millisecond)
	if last, ok := c.lastTS[chat]; ok && !ts.After(last) {
		ts = last.Add(time.Millisecond)
	}
	c.lastTS[chat] = ts
	return ts
}

// Send writes text to every client attached to jid, or keeps it for the next hello when
// none is (up to 1000 messages a chat, oldest dropped). It never waits on a client: one
// whose queue is full is disconnected. The text is then stored as the assistant's own
// message, as WhatsApp echoes the bot's messages; a failure there is logged, not returned,
// because the user has the message and a retry would duplicate it.
func (c *Channel) Send(ctx context.Context, jid, text string) error {
	if !ValidChat(jid) {
		return fmt.Errorf("local chat: invalid chat %q", jid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	frame := messageFrame(c.opts.AssistantName, text)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("local chat: disconnected")
	}
	delivered := c.broadcastLocked(jid, frame)
	if delivered == 0 {
		q := append(c.backlog[jid], frame)
		if len(q) > backlogLimit {
			c.log.Warn("local chat: backlog full, dropping oldest message", "chat", jid, "limit", backlogLimit)
			q = append(q[:0:0], q[len(q)-backlogLimit:]...)
		}
		c.backlog[jid] = q
	}
	c.mu.Unlock()
	name := c.opts.AssistantName
	if err := c.deliver(ctx, jid, assistantID, name, text, true); err != nil {
		c.log.Warn("local chat: storing the assistant's message failed", "chat", jid, "error", err)
	}
	return nil
}

// broadcastLocked queues frame for jid's clients and returns how many took it; a client
// with a full queue is stalled or dead and is dropped. Caller holds mu.
func (c *Channel) broadcastLocked(jid string, frame []byte) int {
	n := 0
	for cl := range c.attached[jid] {
		if cl.enqueue(frame) {
			n++
			continue
		}
		c.log.Warn("local chat: client not reading, disconnecting it", "chat", jid)
		c.detachLocked(cl)
		delete(c.clients, cl)
		cl.close()
	}
	return n
}

// SetTyping tells jid's attached clients the assistant is (not) typing. Nothing is kept
// for later: a stale typing indicator is noise.
func (c *Channel) SetTyping(ctx context.Context, jid string, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.typing[jid] = true
	} else {
		delete(c.typing, jid)
	}
	c.broadcastLocked(jid, typingFrame(on))
	return nil
}

// Disconnect closes the listener, tells every client the host stops (a bye frame, written
// within the write timeout) and closes it, waits for them (or ctx) and removes the socket
// file.
func (c *Channel) Disconnect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	wasConnected := c.connected
	if c.cancel != nil {
		c.cancel()
	}
	if c.ln != nil {
		c.ln.Close()
	}
	bye := byeFrame("the nanoclaw host stopped")
	for cl := range c.clients {
		if cl.enqueue(bye) {
			cl.finish() // the writer flushes the bye, then closes the connection
		} else {
			cl.close()
		}
	}
	c.mu.Unlock()
	if !wasConnected {
		return nil
	}
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("local chat: remove socket", "error", err)
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		for cl := range c.clients {
			cl.close()
		}
		c.mu.Unlock()
		return fmt.Errorf("local chat: disconnect: %w", ctx.Err())
	}
}

// client is one connection. Frames go through a buffered queue to a writer goroutine, so
// a slow reader never blocks the host.
type client struct {
	conn     net.Conn
	out      chan []byte
	done     chan struct{} // closed: stop now
	finishCh chan struct{} // closed: flush the queue, then stop
	once     sync.Once
	finOnce  sync.Once
	chat     string // set by attach under Channel.mu
}

func newClient(conn net.Conn) *client {
	return &client{
		conn:     conn,
		out:      make(chan []byte, clientQueueLen),
		done:     make(chan struct{}),
		finishCh: make(chan struct{}),
	}
}

// enqueue queues frame without blocking; false means the queue is full or closed.
func (cl *client) enqueue(frame []byte) bool {
	select {
	case <-cl.done:
		return false
	default:
	}
	select {
	case cl.out <- frame:
		return true
	default:
		return false
	}
}

// close stops the client now.
func (cl *client) close() {
	cl.once.Do(func() {
		close(cl.done)
		cl.conn.Close()
	})
}

// finish stops the client once what is queued has been written.
func (cl *client) finish() { cl.finOnce.Do(func() { close(cl.finishCh) }) }

func (cl *client) writeLoop(log hclog.Logger) {
	defer cl.close()
	write := func(b []byte) bool {
		_ = cl.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := cl.conn.Write(b); err != nil {
			log.Debug("local chat: write failed", "error", err)
			return false
		}
		return true
	}
	for {
		select {
		case <-cl.done:
			return
		case b := <-cl.out:
			if !write(b) {
				return
			}
		case <-cl.finishCh:
			for {
				select {
				case b := <-cl.out:
					if !write(b) {
						return
					}
				default:
					return
				}
			}
		}
	}
}
