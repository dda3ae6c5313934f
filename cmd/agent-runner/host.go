package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// hostConn is the runner's side of the group's agent socket: the one way to the host. The
// model API, IPC requests and the input stream all go over it.
type hostConn struct {
	http *http.Client
	logf func(string, ...any)
}

func newHostConn(socket string, logf func(string, ...any)) *hostConn {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 90 * time.Second,
	}
	return &hostConn{http: &http.Client{Transport: tr}, logf: logf}
}

// errRefused is an IPC request the host answered but did not perform; its text is the
// host's reason, for the model.
type errRefused struct{ resp runproto.IPCResponse }

func (e errRefused) Error() string {
	if e.resp.Code == runproto.CodeRefused {
		return "refused: " + e.resp.Error
	}
	return e.resp.Error
}

// ipc sends one request and returns the host's result (raw JSON; "null" for none).
func (h *hostConn) ipc(ctx context.Context, req map[string]any) (json.RawMessage, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var resp struct {
		runproto.IPCResponse
		Result json.RawMessage `json:"result"`
	}
	status, err := h.post(ctx, runproto.PathIPC, body, &resp)
	if err != nil {
		return nil, fmt.Errorf("the host could not be reached: %w", err)
	}
	if !resp.OK {
		if resp.Error == "" {
			resp.Error = fmt.Sprintf("the host answered %d", status)
		}
		return nil, errRefused{resp.IPCResponse}
	}
	return resp.Result, nil
}

func (h *hostConn) post(ctx context.Context, path string, body []byte, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://host"+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return resp.StatusCode, fmt.Errorf("unreadable answer (%d): %.200s", resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// ack tells the host that follow-ups were taken into a turn.
func (h *hostConn) ack(ctx context.Context, run string, ids []int64) error {
	body, _ := json.Marshal(runproto.InputAck{Run: run, IDs: ids})
	var resp runproto.IPCResponse
	status, err := h.post(ctx, runproto.PathInputAck, body, &resp)
	if err != nil {
		return err
	}
	if !resp.OK {
		return fmt.Errorf("acknowledgement refused (%d): %s", status, resp.Error)
	}
	return nil
}

// inputStream reads the run's input stream: follow-ups and the close request. A broken
// stream is opened again (the host sends what was not acknowledged once more, which is
// recognised by id); when it cannot be, the run is over.
type inputStream struct {
	host   *hostConn
	run    string
	frames chan runproto.InputFrame // closed when the stream is gone for good
	ready  chan struct{}            // closed once the first backlog has arrived
	seen   map[int64]bool
}

// streamRetries is how often a broken stream is reopened before the runner gives up.
const streamRetries = 3

func openInput(ctx context.Context, host *hostConn, run string) *inputStream {
	s := &inputStream{host: host, run: run, frames: make(chan runproto.InputFrame, 64), ready: make(chan struct{}), seen: map[int64]bool{}}
	go s.loop(ctx)
	return s
}

func (s *inputStream) loop(ctx context.Context) {
	defer close(s.frames)
	readyOnce := false
	for attempt := 0; attempt <= streamRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			}
		}
		ended, err := s.read(ctx, &readyOnce)
		if ended || ctx.Err() != nil {
			return
		}
		s.host.logf("input stream broke (%v); reopening", err)
	}
	s.host.logf("input stream could not be reopened; finishing the run")
	if !readyOnce {
		close(s.ready)
	}
}

// read serves one connection of the stream; ended is true when the stream ended cleanly (the
// host closed it: the run is over) or a close frame came.
func (s *inputStream) read(ctx context.Context, readyOnce *bool) (ended bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://host"+runproto.PathInput+"?run="+url.QueryEscape(s.run), nil)
	if err != nil {
		return true, err
	}
	resp, err := s.host.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		s.host.logf("input stream refused (%d): %s", resp.StatusCode, bytes.TrimSpace(b))
		return true, nil // the host does not know this run: nothing will ever come
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var f runproto.InputFrame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			s.host.logf("skipping an unreadable input frame: %v", err)
			continue
		}
		switch f.Type {
		case runproto.FrameReady:
			if !*readyOnce {
				*readyOnce = true
				close(s.ready)
			}
			continue
		case runproto.FrameMessage:
			if s.seen[f.ID] {
				continue // sent again after a reconnect
			}
			s.seen[f.ID] = true
		case runproto.FrameClose:
		default:
			continue
		}
		select {
		case s.frames <- f:
		case <-ctx.Done():
			return true, ctx.Err()
		}
		if f.Type == runproto.FrameClose {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return true, nil // the host ended the stream: the run is over for it
}

// pending returns the follow-ups already here without waiting, and whether a close (or
// the end of the stream) is among what arrived.
func (s *inputStream) pending() (msgs []runproto.InputFrame, closed bool) {
	for {
		select {
		case f, ok := <-s.frames:
			if !ok || f.Type == runproto.FrameClose {
				return msgs, true
			}
			msgs = append(msgs, f)
		default:
			return msgs, false
		}
	}
}

// wait blocks until follow-ups arrive (every one already here is returned together) or
// the run is asked to close (closed, possibly with follow-ups that arrived before it).
func (s *inputStream) wait(ctx context.Context) (msgs []runproto.InputFrame, closed bool) {
	select {
	case <-ctx.Done():
		return nil, true
	case f, ok := <-s.frames:
		if !ok || f.Type == runproto.FrameClose {
			return nil, true
		}
		msgs = []runproto.InputFrame{f}
	}
	more, closed := s.pending()
	return append(msgs, more...), closed
}
