// Package agentsock serves each group's agent socket: one Unix socket per group, mounted
// read-only into that group's container, and the only channel between an agent and the
// host. Over it the agent reaches the model API (the credential proxy), makes IPC requests
// (answered performed or refused, never silently dropped), and reads its run's input
// stream: follow-up messages and the request to close, which it acknowledges.
//
// The group of a request is the socket it arrived on, never anything the agent says. The
// protocol is in sandbox/runproto (socket.go), shared with the agent runner.
//
// Everything on the socket is hostile input: bodies are capped, JSON is strict, unknown
// paths are 404, IPC is rate-limited per group, slow or stalled clients hit read and write
// deadlines, and each group has its own listener with a connection cap, so one agent holding
// connections open slows down nobody but itself. Refusals are logged at a bounded rate per
// group, so an agent flooding its socket cannot flood the host's log.
package agentsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/net/netutil"
	"golang.org/x/time/rate"

	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// SocketName is the socket's file name in its group's directory.
const SocketName = "agent.sock"

// IPC answers IPC requests; the host's ipc.Service is one.
type IPC interface {
	// Handle authorizes and performs one request from group. body is at most
	// runproto.MaxIPCBytes and has not been parsed.
	Handle(ctx context.Context, group string, body []byte) runproto.IPCResponse
}

// Config is what New needs. Dir, Model and IPC are required.
type Config struct {
	// Dir holds one directory per group (Dir/<folder>/agent.sock), which is what gets
	// mounted into the group's container. It is host-only: created 0700.
	Dir string
	// UID and GID own each socket: the user the containers run as. Connecting needs write
	// permission on the socket, and nobody else gets it (mode 0600). -1 leaves the owner.
	UID, GID int
	// Model serves the model API for a group (the credential proxy).
	Model func(group string) http.Handler
	// IPC answers IPC requests.
	IPC IPC
	// Log gets refusals of malformed traffic and socket errors. Default: discard.
	Log hclog.Logger

	// IPCRate and IPCBurst bound each group's IPC requests and acks (default 20/s, burst 60).
	IPCRate  rate.Limit
	IPCBurst int
	// MaxConns caps each group's open connections (default 32); more wait to be accepted.
	MaxConns int
	// HeaderTimeout bounds reading a request's headers (default 10 s), BodyTimeout an IPC
	// or ack body (default 10 s), WriteTimeout each write of the input stream (default 10 s).
	HeaderTimeout, BodyTimeout, WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request (default 2 min).
	IdleTimeout time.Duration
	// OnAck, when set, hears each acknowledgement of follow-ups (status, benchmarks).
	OnAck func(group, run string, ids []int64)
}

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = hclog.NewNullLogger()
	}
	if c.IPCRate <= 0 {
		c.IPCRate = 20
	}
	if c.IPCBurst <= 0 {
		c.IPCBurst = 60
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 32
	}
	for _, d := range []*time.Duration{&c.HeaderTimeout, &c.BodyTimeout, &c.WriteTimeout} {
		if *d <= 0 {
			*d = 10 * time.Second
		}
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
}

// Server serves every group's socket.
type Server struct {
	cfg Config

	mu     sync.Mutex
	groups map[string]*groupSocket
	closed bool
}

// groupSocket is one group's listener and its current run.
type groupSocket struct {
	s       *Server
	folder  string
	dir     string
	srv     *http.Server
	done    chan struct{} // closed when Serve has returned
	limiter *rate.Limiter

	// logs bounds how often a refusal is logged; suppressed counts those that were not,
	// reported with the next one that is.
	logs       *rate.Limiter
	suppressed atomic.Int64

	mu  sync.Mutex
	run *Run // the run whose input stream the socket serves; nil between runs
}

// New checks cfg; sockets are made by Listen.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" || cfg.Model == nil || cfg.IPC == nil {
		return nil, errors.New("agentsock: Dir, Model and IPC are required")
	}
	cfg.defaults()
	return &Server{cfg: cfg, groups: map[string]*groupSocket{}}, nil
}

// Listen serves group's socket, once for the host's life, and returns the host directory
// holding it: the directory to mount (read-only) at runproto.SocketDir in the group's
// containers. A stale socket left by a dead host is replaced.
func (s *Server) Listen(group string) (string, error) {
	if !ipcpolicy.ValidFolder(group) {
		return "", fmt.Errorf("agentsock: invalid group folder %q", group)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("agentsock: server closed")
	}
	if g, ok := s.groups[group]; ok {
		return g.dir, nil
	}
	dir := filepath.Join(s.cfg.Dir, group)
	if err := prepareDir(s.cfg.Dir, 0o700); err != nil {
		return "", fmt.Errorf("agentsock: %w", err)
	}
	// The group's directory must be searchable by the container's user; it holds nothing
	// but the socket, which only that user (and the host) may use.
	if err := prepareDir(dir, 0o711); err != nil {
		return "", fmt.Errorf("agentsock: %w", err)
	}
	path := filepath.Join(dir, SocketName)
	if err := removeStale(path); err != nil {
		return "", fmt.Errorf("agentsock: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return "", fmt.Errorf("agentsock: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err == nil && (s.cfg.UID >= 0 || s.cfg.GID >= 0) {
		err = os.Lchown(path, s.cfg.UID, s.cfg.GID)
	}
	if err != nil {
		ln.Close()
		return "", fmt.Errorf("agentsock: socket permissions: %w", err)
	}
	g := &groupSocket{s: s, folder: group, dir: dir, done: make(chan struct{}),
		limiter: rate.NewLimiter(s.cfg.IPCRate, s.cfg.IPCBurst),
		logs:    rate.NewLimiter(refusalLogRate, refusalLogBurst)}
	g.srv = &http.Server{
		Handler:           g.handler(),
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.cfg.Log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	s.groups[group] = g
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(netutil.LimitListener(ln, s.cfg.MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Error("agent socket stopped", "group", group, "error", err)
		}
	}()
	s.cfg.Log.Debug("agent socket serving", "group", group, "socket", path)
	return dir, nil
}

// prepareDir makes dir (and its parents) and checks it is a directory, not a symlink,
// with exactly mode perm.
func prepareDir(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm() != perm {
		return os.Chmod(dir, perm)
	}
	return nil
}

// removeStale removes a socket nobody answers on; anything else at path is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if conn, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		conn.Close()
		return fmt.Errorf("%s is in use by another server", path)
	}
	return os.Remove(path)
}

// Dir is the host directory of group's socket ("" when it is not served).
func (s *Server) Dir(group string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.groups[group]; ok {
		return g.dir
	}
	return ""
}

// Close stops every socket and removes them; connections in flight are cut.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	groups := s.groups
	s.groups = map[string]*groupSocket{}
	s.mu.Unlock()
	var errs []error
	for _, g := range groups {
		g.mu.Lock()
		run := g.run
		g.mu.Unlock()
		if run != nil {
			run.end()
		}
		errs = append(errs, g.srv.Close())
		<-g.done
		if err := os.Remove(filepath.Join(g.dir, SocketName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StartRun attaches a new run to group's socket: from now on its input stream is served
// to the runner that names runID. The group's socket must be listening, and a group has
// one run at a time: a run still attached is an error.
func (s *Server) StartRun(group, runID string) (*Run, error) {
	s.mu.Lock()
	g := s.groups[group]
	s.mu.Unlock()
	if g == nil {
		return nil, fmt.Errorf("agentsock: group %q has no socket", group)
	}
	if runID == "" {
		return nil, errors.New("agentsock: empty run id")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.run != nil {
		return nil, fmt.Errorf("agentsock: group %q already has run %s", group, g.run.id)
	}
	r := newRun(group, runID, func(r *Run) {
		g.mu.Lock()
		if g.run == r {
			g.run = nil
		}
		g.mu.Unlock()
	}, g.s.cfg.OnAck)
	g.run = r
	return r, nil
}

func (g *groupSocket) currentRun(id string) *Run {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.run == nil || g.run.id != id {
		return nil
	}
	return g.run
}

// handler routes one group's requests. Everything but the model API answers JSON.
func (g *groupSocket) handler() http.Handler {
	model := g.s.cfg.Model(g.folder)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			model.ServeHTTP(w, r)
		case r.URL.Path == runproto.PathIPC:
			if !method(w, r, http.MethodPost) {
				return
			}
			g.serveIPC(w, r)
		case r.URL.Path == runproto.PathInput:
			if !method(w, r, http.MethodGet) {
				return
			}
			g.serveInput(w, r)
		case r.URL.Path == runproto.PathInputAck:
			if !method(w, r, http.MethodPost) {
				return
			}
			g.serveAck(w, r)
		default:
			writeJSON(w, http.StatusNotFound, runproto.IPCResponse{Code: runproto.CodeMalformed,
				Error: "no such path on the agent socket: " + r.URL.Path})
		}
	})
}

func method(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want {
		return true
	}
	w.Header().Set("Allow", want)
	writeJSON(w, http.StatusMethodNotAllowed, runproto.IPCResponse{Code: runproto.CodeMalformed,
		Error: r.URL.Path + " takes " + want + ", not " + r.Method})
	return false
}

// statusOf maps an IPC answer to its HTTP status.
func statusOf(resp runproto.IPCResponse) int {
	switch {
	case resp.OK:
		return http.StatusOK
	case resp.Code == runproto.CodeRefused:
		return http.StatusForbidden
	case resp.Code == runproto.CodeMalformed:
		return http.StatusBadRequest
	case resp.Code == runproto.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case resp.Code == runproto.CodeRateLimit:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// readBody reads at most limit bytes within the body deadline; too large is errTooLarge.
func (g *groupSocket) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.s.cfg.BodyTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge
	}
	return b, err
}

var errTooLarge = errors.New("body too large")

func (g *groupSocket) serveIPC(w http.ResponseWriter, r *http.Request) {
	if !g.limiter.Allow() {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeRateLimit, Error: "too many IPC requests from this group; slow down and retry"})
		return
	}
	body, err := g.readBody(w, r, runproto.MaxIPCBytes)
	switch {
	case errors.Is(err, errTooLarge):
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeTooLarge, Error: fmt.Sprintf("IPC request is larger than %d bytes", runproto.MaxIPCBytes)})
		return
	case err != nil:
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeMalformed, Error: "reading the IPC request failed: " + err.Error()})
		return
	}
	resp := g.s.cfg.IPC.Handle(r.Context(), g.folder, body)
	writeJSON(w, statusOf(resp), resp)
}

// Refusals on a group's socket are logged at most this often (after a burst): an agent can
// send thousands of bad requests a second, and a journal that rate-limits a noisy service
// drops the host's own lines with them.
const (
	refusalLogRate  = rate.Limit(1)
	refusalLogBurst = 10
)

// refuse answers traffic the IPC service never sees, and logs it unless the group's
// refusals are coming too fast; the next one logged says how many were not.
func (g *groupSocket) refuse(w http.ResponseWriter, resp runproto.IPCResponse) {
	if g.logs.Allow() {
		args := []any{"group", g.folder, "code", resp.Code, "reason", resp.Error}
		if n := g.suppressed.Swap(0); n > 0 {
			args = append(args, "suppressed", n)
		}
		g.s.cfg.Log.Warn("agent socket request refused", args...)
	} else {
		g.suppressed.Add(1)
	}
	writeJSON(w, statusOf(resp), resp)
}

// maxAckBytes bounds an acknowledgement: a run id and a few ids.
const maxAckBytes = 16 << 10

func (g *groupSocket) serveAck(w http.ResponseWriter, r *http.Request) {
	if !g.limiter.Allow() {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeRateLimit, Error: "too many requests from this group; slow down and retry"})
		return
	}
	body, err := g.readBody(w, r, maxAckBytes)
	if err != nil {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeMalformed, Error: "reading the acknowledgement failed: " + err.Error()})
		return
	}
	var ack runproto.InputAck
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ack); err != nil || dec.More() {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeMalformed, Error: "an acknowledgement is {\"run\": id, \"ids\": [...]}"})
		return
	}
	run := g.currentRun(ack.Run)
	if run == nil {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeRefused, Error: "run " + ack.Run + " is not this group's current run"})
		return
	}
	if err := run.ack(ack.IDs); err != nil {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeMalformed, Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, runproto.IPCResponse{OK: true})
}

// serveInput streams the run's input: every follow-up not yet acknowledged, a ready frame,
// then each new follow-up and the close request as they come, until the run ends or the
// client goes away. Each write has a deadline, so a runner that stops reading only loses
// its stream; its follow-ups stay unacknowledged and are sent again or taken back.
func (g *groupSocket) serveInput(w http.ResponseWriter, r *http.Request) {
	run := g.currentRun(r.URL.Query().Get("run"))
	if run == nil {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeRefused, Error: "no current run of this group has that id"})
		return
	}
	if !run.attach() {
		g.refuse(w, runproto.IPCResponse{Code: runproto.CodeRefused, Error: "the run's input stream is already open"})
		return
	}
	defer run.detach()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(frames []runproto.InputFrame) bool {
		if len(frames) == 0 {
			return true
		}
		var buf []byte
		for _, f := range frames {
			b, _ := json.Marshal(f)
			buf = append(append(buf, b...), '\n')
		}
		_ = rc.SetWriteDeadline(time.Now().Add(g.s.cfg.WriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	frames, wake, ended := run.backlog()
	if !send(append(frames, runproto.InputFrame{Type: runproto.FrameReady})) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ended:
			return
		case <-wake:
		}
		if !send(run.fresh()) {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Push hands text to group's current run as a follow-up (queue.Input); false when no run
// is attached or it has ended.
func (s *Server) Push(group, text string) (int64, bool) {
	if r := s.current(group); r != nil {
		return r.Push(text)
	}
	return 0, false
}

// RequestClose asks group's current run to finish after its turn (queue.Input).
func (s *Server) RequestClose(group string) bool {
	if r := s.current(group); r != nil {
		return r.Close()
	}
	return false
}

func (s *Server) current(group string) *Run {
	s.mu.Lock()
	g := s.groups[group]
	s.mu.Unlock()
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.run
}
