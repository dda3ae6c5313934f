package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ErrNoHost means nothing answers on the chat socket: the host is not running.
var ErrNoHost = errors.New("no running nanoclaw host")

// maxHostLine bounds one host line on the client; the host does not split replies.
const maxHostLine = 64 << 20

// ChatOptions configures Chat.
type ChatOptions struct {
	// Chat is the chat to join: "local:work", or just "work". "" means DefaultChat.
	Chat string
	// Name is how the user appears to the assistant. "" lets the host pick ("user").
	Name string
	// Replies, when positive, ends Chat once the input is exhausted, every line was
	// answered (ack or error) and this many assistant messages arrived since joining, so a
	// script can pipe questions in and get the answers out. Messages kept for the chat
	// while no client was attached do not count. 0 waits for ctx.
	Replies int
	// ShowTyping prints a "[typing]" line when the assistant starts typing.
	ShowTyping bool
}

// Chat is the client behind `nanoclaw chat`: it joins a chat on the host's socket, sends
// each non-blank line of in as a message and prints each assistant message to out followed
// by a blank line. Refused lines are printed as "[error] …". After in ends it keeps
// printing until ctx is done (then it returns nil) or opts.Replies messages came. Reading
// in cannot be interrupted, so a goroutine blocked on a terminal outlives an early return.
func Chat(ctx context.Context, socketPath string, opts ChatOptions, in io.Reader, out io.Writer) error {
	chat := opts.Chat
	switch {
	case chat == "":
		chat = DefaultChat
	case !strings.HasPrefix(chat, jidPrefix):
		chat = jidPrefix + chat
	}
	if !ValidChat(chat) {
		return fmt.Errorf("invalid chat %q: use letters, digits, '.', '_' or '-'", opts.Chat)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("chat socket %s: %w", socketPath, err)
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w at %s: start it with `nanoclaw run`", ErrNoHost, socketPath)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// One writer: this goroutine. Reads come through frames.
	send := func(v any) error {
		b, _ := json.Marshal(v)
		if _, err := conn.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("send to host: %w", err)
		}
		return nil
	}
	frames := make(chan hostFrame)
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.Close() // unblocks the reader before wg.Wait
	// rctx ends with Chat, so the helper goroutines never block on a send nobody takes.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErr <- readFrames(rctx, conn, frames)
	}()

	hostGone := func(err error) error {
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = io.EOF
		}
		return fmt.Errorf("nanoclaw host closed the chat: %w", err)
	}

	if err := send(clientFrame{Type: typeHello, Chat: chat, Name: opts.Name}); err != nil {
		return hostGone(err)
	}
	// Until the hello ack: the backlog, printed but not counted as replies.
	for joined := false; !joined; {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return hostGone(err)
		case f := <-frames:
			switch f.Type {
			case typeAck:
				joined = true
			case typeError:
				return fmt.Errorf("host refused the chat: %s", f.Error)
			case typeMessage:
				fmt.Fprintf(out, "%s\n\n", terminalSafe(f.Text))
			}
		}
	}

	lines := make(chan string)
	inErr := make(chan error, 1)
	go func() { // not in wg: it may block on a terminal forever
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 4096), MaxLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-rctx.Done():
				return
			}
		}
		inErr <- sc.Err()
	}()

	var sent, resolved, replies int
	eof := false
	pending := map[string]bool{}
	done := func() bool { return opts.Replies > 0 && eof && resolved == sent && replies >= opts.Replies }
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return hostGone(err)
		case line, ok := <-lines:
			if !ok {
				lines = nil
				eof = true
				select {
				case err := <-inErr:
					if err != nil {
						return fmt.Errorf("read input: %w", err)
					}
				default:
				}
				if done() {
					return nil
				}
				break
			}
			if strings.TrimSpace(line) == "" {
				break
			}
			sent++
			id := strconv.Itoa(sent)
			pending[id] = true
			if err := send(clientFrame{Type: typeMessage, Text: line, ID: id}); err != nil {
				return hostGone(err)
			}
		case f := <-frames:
			switch f.Type {
			case typeAck, typeError:
				if f.Type == typeError {
					fmt.Fprintf(out, "[error] %s\n", terminalSafe(f.Error))
				}
				if pending[f.ID] {
					delete(pending, f.ID)
					resolved++
					if done() {
						return nil
					}
				}
			case typeTyping:
				if opts.ShowTyping && f.On {
					fmt.Fprintln(out, "[typing]")
				}
			case typeMessage:
				fmt.Fprintf(out, "%s\n\n", terminalSafe(f.Text))
				replies++
				if done() {
					return nil
				}
			}
		}
	}
}

// readFrames decodes host lines into frames until the connection ends or ctx is done.
func readFrames(ctx context.Context, conn net.Conn, frames chan<- hostFrame) error {
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 4096), maxHostLine)
	for sc.Scan() {
		var f hostFrame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return fmt.Errorf("bad line from host: %w", err)
		}
		select {
		case frames <- f:
		case <-ctx.Done():
			return nil
		}
	}
	return sc.Err()
}

// terminalSafe shows text from the host (an agent's words) in a terminal without letting it
// drive the terminal: control characters other than newline and tab, and invalid UTF-8, are
// written as Go escapes, so no escape sequence can move the cursor, retitle the window or
// hide what was written.
func terminalSafe(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
