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
	"syscall"
	"unicode"
	"unicode/utf8"
)

// ErrNoHost means nothing answers on the chat socket: the host is not running.
var ErrNoHost = errors.New("no running nanoclaw host")

// ErrHostStopped means the host ended the chat because it stopped (it said bye).
var ErrHostStopped = errors.New("the nanoclaw host stopped; the chat ended (start the host again with `nanoclaw run`)")

// ErrHostLost means the connection to the host broke without a goodbye: it crashed or was
// killed.
var ErrHostLost = errors.New("lost the connection to the nanoclaw host (did it stop?)")

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
	// Info, when set, gets what is about the chat rather than in it: the banner on joining
	// (which chat, who answers, how to quit) and a line each time the assistant starts
	// working. The CLI gives it stderr, so a script piping stdout gets only the chat.
	Info io.Writer
}

// Chat is the client behind `nanoclaw chat`: it joins a chat on the host's socket, sends
// each non-blank line of in as a message ("/file PATH [caption]" sends that file, a quoted
// PATH may hold spaces) and prints each assistant message to out as
// "<assistant>: <text>" and each message another client sent to the chat as "<name>: <text>",
// both followed by a blank line. Refused lines are printed as "[error] …". After in ends it
// keeps printing until ctx is done (then it returns nil) or opts.Replies messages came. A
// host that stops ends it with ErrHostStopped (ErrHostLost when it went without a word).
// Reading in cannot be interrupted, so a goroutine blocked on a terminal outlives an early
// return.
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
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return ErrHostLost
		}
		return fmt.Errorf("%w: %w", ErrHostLost, err)
	}
	info := opts.Info
	if info == nil {
		info = io.Discard
	}
	assistant := "assistant"
	typing := false
	// show prints one frame that is the same before and after joining.
	show := func(f hostFrame) error {
		switch f.Type {
		case typeBye:
			return ErrHostStopped
		case typeTyping:
			if f.On && !typing {
				fmt.Fprintf(info, "… %s is typing\n", terminalSafe(assistant))
			}
			typing = f.On
		case typeMessage:
			typing = false // as on a phone: a message ends the typing indicator
			name := assistant
			if f.Name != "" {
				name = f.Name
			}
			fmt.Fprintf(out, "%s: %s\n\n", terminalSafe(name), terminalSafe(f.Text))
		case typeSaid:
			fmt.Fprintf(out, "%s: %s\n\n", terminalSafe(f.Name), terminalSafe(f.Text))
		}
		return nil
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
				if f.Assistant != "" {
					assistant = f.Assistant
				}
				where := chat
				if f.Group != "" {
					where += " (" + f.Group + ")"
				}
				fmt.Fprintf(info, "Chatting in %s with %s. Type a message and press Enter; Ctrl-D or Ctrl-C to quit.\n\n",
					terminalSafe(where), terminalSafe(assistant))
			case typeError:
				return fmt.Errorf("host refused the chat: %s", terminalSafe(f.Error))
			default: // the backlog, kept while no client was attached
				if err := show(f); err != nil {
					return err
				}
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
			frame := clientFrame{Type: typeMessage, Text: line}
			if rest, ok := fileCommand(line); ok {
				var err error
				if frame, err = readFileFrame(rest); err != nil {
					fmt.Fprintf(out, "[error] %s\n", terminalSafe(err.Error()))
					break
				}
			}
			sent++
			id := strconv.Itoa(sent)
			pending[id] = true
			frame.ID = id
			if err := send(frame); err != nil {
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
			case typeMessage:
				_ = show(f)
				replies++
				if done() {
					return nil
				}
			default:
				if err := show(f); err != nil {
					return err
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
