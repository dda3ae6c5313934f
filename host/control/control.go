// Package control is the running host's local control socket: a Unix socket (mode 0600, so
// only this user can talk to it) serving small JSON endpoints that the CLI reads, such as
// `nanoclaw plugin list` and `nanoclaw status`.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// Server serves the control endpoints on a Unix socket.
type Server struct {
	mux  *http.ServeMux
	path string
	ln   net.Listener
}

// NewServer prepares a server for the socket at path.
func NewServer(path string) *Server {
	return &Server{mux: http.NewServeMux(), path: path}
}

// HandleJSON registers a GET endpoint whose body is fn's value as JSON.
func (s *Server) HandleJSON(pattern string, fn func() any) {
	s.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(fn())
	})
}

// HandlePost registers a POST endpoint (no request body; the pattern may name path values,
// as "/groups/{folder}/reset") that runs fn and answers its value as JSON, or 500 with fn's
// error. The CLI uses it to tell a running host that something it caches changed on disk,
// or to ask it to act.
func (s *Server) HandlePost(pattern string, fn func(r *http.Request) (any, error)) {
	s.mux.HandleFunc("POST "+pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
}

// Listen creates the socket. A stale socket from a crashed host is replaced; a socket that
// still answers means another host is running, which is an error.
func (s *Server) Listen() error {
	if conn, err := net.DialTimeout("unix", s.path, 200*time.Millisecond); err == nil {
		conn.Close()
		return fmt.Errorf("another nanoclaw host is already serving %s", s.path)
	}
	_ = os.Remove(s.path)
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(s.path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	s.ln = ln
	return nil
}

// Serve answers requests until ctx is done, listening first if Listen was not called.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	err := srv.Serve(s.ln)
	_ = os.Remove(s.path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ErrNoHost means nothing answers on the control socket.
var ErrNoHost = errors.New("no running nanoclaw host")

// GetJSON fetches an endpoint from the host at socket and decodes it into v.
func GetJSON(ctx context.Context, socket, path string, v any) error {
	return call(ctx, http.MethodGet, socket, path, v)
}

// PostJSON calls a POST endpoint of the host at socket and decodes its answer into v.
func PostJSON(ctx context.Context, socket, path string, v any) error {
	return call(ctx, http.MethodPost, socket, path, v)
}

func call(ctx context.Context, method, socket, path string, v any) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, method, "http://nanoclaw"+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w (%s): %w", ErrNoHost, socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("control %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
