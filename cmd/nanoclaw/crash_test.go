package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// ackModel plays the model for the crash tests. It answers each request, after a delay,
// with "ack: " and the texts of every message in its latest user turn, so the store shows
// which messages each reply answers. A request whose turn mentions "hold" waits until
// release is closed (or the request is abandoned).
type ackModel struct {
	delay   func() time.Duration
	mu      sync.Mutex
	release chan struct{}
	seen    chan ackRequest
}

// ackRequest is one request as the model saw it.
type ackRequest struct {
	texts    []string // the messages of the latest user turn
	messages int      // how many messages the conversation had
}

var messageText = regexp.MustCompile(`<message [^>]*>([^<]*)</message>`)

func newAckModel(t testing.TB, delay func() time.Duration) (*ackModel, string) {
	m := &ackModel{delay: delay, release: make(chan struct{}), seen: make(chan ackRequest, 256)}
	srv := httptest.NewServer(m)
	t.Cleanup(func() { m.releaseHeld(); srv.Close() })
	return m, srv.URL
}

func (m *ackModel) releaseHeld() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.release:
	default:
		close(m.release)
	}
}

func (m *ackModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	last := ""
	if n := len(req.Messages); n > 0 {
		var blocks []struct{ Text string }
		if json.Unmarshal(req.Messages[n-1].Content, &blocks) == nil {
			for _, b := range blocks {
				last += b.Text
			}
		} else {
			_ = json.Unmarshal(req.Messages[n-1].Content, &last)
		}
	}
	var texts []string
	for _, g := range messageText.FindAllStringSubmatch(last, -1) {
		texts = append(texts, g[1])
	}
	select {
	case m.seen <- ackRequest{texts: texts, messages: len(req.Messages)}:
	default:
	}
	wait := time.After(m.delay())
	if strings.Contains(last, "hold") {
		m.mu.Lock()
		release := m.release
		m.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	select {
	case <-wait:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "msg_ack", "type": "message", "role": "assistant", "model": "claude-test",
		"content":     []any{map[string]any{"type": "text", "text": "ack: " + strings.Join(texts, " | ")}},
		"stop_reason": "end_turn", "stop_sequence": nil, "usage": map[string]any{"input_tokens": 3, "output_tokens": 2}})
}

// lineClient is a local chat client that survives its host dying: say reports whether the
// host stored the message instead of failing the test.
type lineClient struct {
	conn    net.Conn
	acks    chan string
	replies chan string
	closed  chan struct{}
}

// connectChat joins chat on the host in work, waiting (on ctx) for the socket to answer.
func connectChat(ctx context.Context, t testing.TB, work, chat string) *lineClient {
	t.Helper()
	sock := filepath.Join(work, "data", "chat.sock")
	var conn net.Conn
	for {
		var err error
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("chat socket never answered: %v", err)
		case <-time.After(20 * time.Millisecond): // a socket file gives no event to wait on
		}
	}
	c := &lineClient{conn: conn, acks: make(chan string, 64), replies: make(chan string, 256), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var f struct{ Type, ID, Text string }
			if json.Unmarshal(sc.Bytes(), &f) != nil {
				continue
			}
			switch f.Type {
			case "ack":
				c.acks <- f.ID
			case "message":
				c.replies <- f.Text
			}
		}
	}()
	c.write(map[string]any{"type": "hello", "chat": chat, "name": "alice", "id": "hello"})
	select {
	case <-c.acks:
	case <-c.closed:
		t.Fatal("the host hung up on hello")
	case <-time.After(30 * time.Second):
		t.Fatal("no ack for hello")
	}
	return c
}

func (c *lineClient) write(v any) bool {
	b, _ := json.Marshal(v)
	_, err := c.conn.Write(append(b, '\n'))
	return err == nil
}

// say sends text and reports whether the host acknowledged it (stored it).
func (c *lineClient) say(text string) bool {
	if !c.write(map[string]any{"type": "message", "text": text, "id": text}) {
		return false
	}
	for {
		select {
		case id := <-c.acks:
			if id == text {
				return true
			}
		case <-c.closed:
			return false
		case <-time.After(30 * time.Second):
			return false
		}
	}
}

func (c *lineClient) close() { c.conn.Close() }

// answeredTimes counts, for each text, the stored replies (the outbox) that answer it.
func answeredTimes(t testing.TB, st *store.Store) map[string]int {
	t.Helper()
	out, err := st.OutgoingFor(context.Background(), "local:main")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, o := range out {
		body, ok := strings.CutPrefix(o.Text, "ack: ")
		if !ok || !strings.HasPrefix(o.Origin, "reply:") {
			continue
		}
		for _, text := range strings.Split(body, " | ") {
			n[text]++
		}
	}
	return n
}

// waitAnswered waits, woken by every write to the store, until each of texts has a stored
// reply, and returns the counts.
func waitAnswered(t testing.TB, work string, texts []string, within time.Duration) map[string]int {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(work, "store", "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(filepath.Join(work, "store")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(within)
	for {
		got := answeredTimes(t, st)
		missing := slices.DeleteFunc(slices.Clone(texts), func(s string) bool { return got[s] > 0 })
		if len(missing) == 0 {
			return got
		}
		select {
		case <-w.Events:
		case err := <-w.Errors:
			t.Fatalf("watching the store: %v", err)
		case <-deadline:
			t.Fatalf("after %v, %d of %d messages have no stored reply: %v", within, len(missing), len(texts), missing)
		}
	}
}

// TestKilledHostAnswersEveryMessageOnce kills the host with SIGKILL at seeded random moments —
// while a container starts, during the model call, between a follow-up piped to a running
// agent and its reply, and at arbitrary times — while messages keep arriving; after the last
// restart every message the host acknowledged has exactly one stored reply.
func TestKilledHostAnswersEveryMessageOnce(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NANOCLAW_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (NANOCLAW_CRASH_SEED reproduces the kill schedule)", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6e616e6f))
	var rngMu sync.Mutex
	randDur := func(lo, hi time.Duration) time.Duration {
		rngMu.Lock()
		defer rngMu.Unlock()
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	model, url := newAckModel(t, func() time.Duration { return randDur(300*time.Millisecond, 1200*time.Millisecond) })
	vars := hostEnv(work, url)
	vars["LOG_LEVEL"] = "info"
	bin := buildBinary(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	const kills = 22
	var acked []string
	moments := map[string]int{}
	for cycle := range kills {
		host := startProc(t, bin, work, vars, cycle%10)
		c := connectChat(ctx, t, work, "local:main")
		for len(model.seen) > 0 {
			<-model.seen // requests of the previous host
		}
		var mu sync.Mutex
		stop := make(chan struct{})
		sent := make(chan struct{}, 64)
		done := make(chan struct{})
		go func() { // messages keep arriving until the kill
			defer close(done)
			for k := 0; ; k++ {
				text := fmt.Sprintf("c%dm%d", cycle, k)
				if !c.say(text) {
					return
				}
				mu.Lock()
				acked = append(acked, text)
				mu.Unlock()
				sent <- struct{}{}
				select {
				case <-stop:
					return
				case <-time.After(randDur(80*time.Millisecond, 700*time.Millisecond)):
				}
			}
		}()
		rngMu.Lock()
		moment := []string{"container start", "model call", "piped follow-up", "anywhere"}[rng.IntN(4)]
		rngMu.Unlock()
		moments[moment]++
		select {
		case <-sent: // at least one message is stored before each kill
		case <-time.After(time.Minute):
			t.Fatal("no message was acknowledged")
		}
		switch moment {
		case "container start":
			<-time.After(randDur(0, 250*time.Millisecond))
		case "model call":
			waitRequests(t, model, 1)
		case "piped follow-up":
			// The second request of this host comes from the running container taking a
			// follow-up (the idle timeout is a minute); the kill comes before its reply.
			waitRequests(t, model, 2)
		default:
			<-time.After(randDur(0, 3*time.Second))
		}
		host.kill(t)
		close(stop)
		<-done
		c.close()
	}
	t.Logf("kills by moment: %v; %d messages acknowledged", moments, len(acked))

	final := startProc(t, bin, work, vars, 9)
	got := waitAnswered(t, work, acked, 2*time.Minute)
	if err := final.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-final.done
	for _, text := range acked {
		if got[text] != 1 {
			t.Errorf("%s has %d stored replies, want exactly 1", text, got[text])
		}
	}
}

// waitRequests waits for n more model requests.
func waitRequests(t testing.TB, m *ackModel, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for range n {
		select {
		case <-m.seen:
		case <-deadline:
			t.Fatalf("fewer than %d model requests within a minute", n)
		}
	}
}

// TestGracefulStop: on SIGTERM the host takes no new work, lets a working agent finish its
// turn (its socket still serving: the reply is delivered before the host exits), and exits
// well within the grace; an agent still working when the grace ends is stopped. What was
// left (a message that came during the stop, the stopped agent's message) is answered after
// the restart, exactly once.
func TestGracefulStop(t *testing.T) {
	d := requireDocker(t)
	bin := buildBinary(t, t.TempDir())
	cases := []struct {
		name       string
		grace      string
		releaseBy  string // "stop": the model answers during the grace; "restart": only after it
		wantReply  bool   // the held turn's reply reaches the client before the host exits
		maxStopDur time.Duration
	}{
		{"turn finishes within the grace", "20s", "stop", true, 15 * time.Second},
		{"grace runs out", "2s", "restart", false, 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			work := workDir(t, d)
			model, url := newAckModel(t, func() time.Duration { return 0 })
			vars := hostEnv(work, url)
			vars["NANOCLAW_SHUTDOWN_GRACE"] = tc.grace
			vars["LOG_LEVEL"] = "info"
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			host := startProc(t, bin, work, vars, 1)
			c := connectChat(ctx, t, work, "local:main")
			if !c.say("hold first") {
				t.Fatal("not stored")
			}
			waitRequests(t, model, 1) // the agent is in its model call
			stopped := time.Now()
			if err := host.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			// Messages still arrive while the host stops: stored, not answered now.
			if !c.say("during the stop") {
				t.Fatal("a message sent during the stop was not stored")
			}
			if tc.releaseBy == "stop" {
				model.releaseHeld()
			}
			select {
			case <-host.done:
			case <-time.After(time.Minute):
				t.Fatal("the host did not stop")
			}
			if took := time.Since(stopped); took > tc.maxStopDur {
				t.Errorf("stopping took %v", took)
			}
			if code := host.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
			select {
			case <-c.closed: // everything the host wrote has been read
			case <-time.After(30 * time.Second):
				t.Fatal("the chat connection outlived the host")
			}
			gotReply := false
			for len(c.replies) > 0 {
				if r := <-c.replies; r == "ack: hold first" {
					gotReply = true
				}
			}
			if gotReply != tc.wantReply {
				t.Errorf("the held turn's reply reached the client before exit: %v, want %v", gotReply, tc.wantReply)
			}
			c.close()

			startProc(t, bin, work, vars, 2)
			model.releaseHeld()
			got := waitAnswered(t, work, []string{"hold first", "during the stop"}, 2*time.Minute)
			for _, text := range []string{"hold first", "during the stop"} {
				if got[text] != 1 {
					t.Errorf("%q has %d stored replies, want exactly 1", text, got[text])
				}
			}
		})
	}
}
