package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Markers around every result the agent runner writes on stdout.
const (
	OutputStart = runproto.OutputStart
	OutputEnd   = runproto.OutputEnd
)

// RunRequest is what the agent runner reads on stdin.
type RunRequest = runproto.Request

// RunOutput is one result between the markers.
type RunOutput = runproto.Output

// RunResult is how a run ended.
type RunResult struct {
	Status       string // "success" or "error"
	Error        string
	NewSessionID string
	ExitCode     int64
	TimedOut     bool
	Killed       bool // its ctx was cancelled (the host stopping) and the container killed
	HadOutput    bool
	Duration     time.Duration
	LogFile      string
}

// RunConfig holds a run's timeouts and limits (NanoClaw's semantics and defaults).
type RunConfig struct {
	// Timeout is the configured hard timeout (CONTAINER_TIMEOUT, default 30 min); the
	// effective one is max(Timeout, Idle+30s), and every output resets it.
	Timeout time.Duration
	// Idle is how long after a result the run may stay silent before the host asks it to
	// wind down (IDLE_TIMEOUT, default 30 min): Close is called.
	Idle time.Duration
	// IdleGrace is added to Idle for the hard timeout's floor (default 30 s).
	IdleGrace time.Duration
	// MaxOutput caps each of stdout and stderr (default 10 MiB); the rest is dropped.
	MaxOutput int
	// Close asks the run to finish after its current turn (over its agent socket); called
	// once the run has been idle for Idle after a result. Nil: runs end only by timeout.
	Close func()
	// LogDir is data/logs/<folder>, host-only (never mounted, so no agent can put a link
	// there): created 0700, one 0600 file per run.
	LogDir string
	// Debug logs the full input, stdout and stderr even when the run succeeds.
	Debug bool
}

func (c RunConfig) withDefaults() RunConfig {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.Idle <= 0 {
		c.Idle = 30 * time.Minute
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = 10 << 20
	}
	if c.IdleGrace <= 0 {
		c.IdleGrace = 30 * time.Second
	}
	return c
}

// HardTimeout is max(Timeout, Idle+IdleGrace): a run is never killed before its idle close
// had a chance to end it cleanly.
func (c RunConfig) HardTimeout() time.Duration {
	c = c.withDefaults()
	return max(c.Timeout, c.Idle+c.IdleGrace)
}

// Run starts spec, sends req, streams each output to onOutput as it arrives and applies the
// timeouts. A timeout after output counts as success (the agent answered, then idled).
// Cancelling ctx kills the container. Between the start and sending req it verifies the
// extra mounts (VerifyMounts): on failure the container is killed without ever receiving req,
// and the run fails naming the mount. It closes spec.Pinned when the run ends.
func Run(ctx context.Context, rt Runtime, spec Spec, req RunRequest, cfg RunConfig, onOutput func(RunOutput)) (RunResult, error) {
	defer spec.Pinned.Close()
	cfg = cfg.withDefaults()
	start := time.Now()
	p, err := rt.Start(ctx, spec)
	if err != nil {
		return RunResult{Status: "error", Error: err.Error()}, err
	}
	if err := VerifyMounts(p.PID, spec); err != nil {
		abandon(ctx, p)
		err = fmt.Errorf("container %s killed before its request: %w", spec.Name, err)
		res := RunResult{Status: "error", Error: err.Error(), Duration: time.Since(start)}
		res.LogFile = writeRunLog(cfg, spec, req, res, &capped{}, &capped{})
		return res, err
	}
	input, _ := json.Marshal(req)
	go func() {
		_, _ = p.Stdin.Write(append(input, '\n'))
		_ = p.Stdin.Close()
	}()

	var mu sync.Mutex
	res := RunResult{}
	hard := cfg.HardTimeout()
	timer := time.AfterFunc(hard, func() {
		mu.Lock()
		res.TimedOut = true
		mu.Unlock()
		_ = p.Kill(context.WithoutCancel(ctx))
	})
	defer timer.Stop()
	// A cancelled ctx kills the container: the host is stopping and its grace is over.
	stopKill := context.AfterFunc(ctx, func() {
		mu.Lock()
		res.Killed = true
		mu.Unlock()
		_ = p.Kill(context.WithoutCancel(ctx))
	})
	defer stopKill()
	idle := time.AfterFunc(time.Hour, func() {
		if cfg.Close != nil {
			cfg.Close()
		}
	})
	idle.Stop()
	defer idle.Stop()

	stderr := &capped{max: cfg.MaxOutput}
	errDone := make(chan struct{})
	go func() { _, _ = io.Copy(stderr, p.Stderr); close(errDone) }()
	stdout := &capped{max: cfg.MaxOutput}
	parser := markerParser{onBlock: func(block []byte) {
		var out RunOutput
		if err := json.Unmarshal(bytes.TrimSpace(block), &out); err != nil {
			return // a malformed block is skipped, as NanoClaw does
		}
		timer.Reset(hard)
		mu.Lock()
		res.HadOutput = true
		if out.NewSessionID != "" {
			res.NewSessionID = out.NewSessionID
		}
		mu.Unlock()
		if out.Status == "success" && cfg.Close != nil {
			idle.Reset(cfg.Idle)
		}
		if onOutput != nil {
			onOutput(out)
		}
	}}
	_, _ = io.Copy(io.MultiWriter(stdout, &parser), p.Stdout)
	<-errDone
	code, werr := p.Wait()
	mu.Lock()
	defer mu.Unlock()
	res.ExitCode, res.Duration = code, time.Since(start)
	switch {
	case res.TimedOut && res.HadOutput:
		res.Status = "success"
	case res.TimedOut:
		res.Status, res.Error = "error", fmt.Sprintf("container timed out after %v", hard)
	case res.Killed:
		res.Status, res.Error = "error", "container stopped: the host is shutting down"
	case werr != nil:
		res.Status, res.Error = "error", werr.Error()
	case code != 0:
		res.Status, res.Error = "error", fmt.Sprintf("container exited with code %d: %s", code, tail(stderr.buf.String(), 200))
	default:
		res.Status = "success"
	}
	res.LogFile = writeRunLog(cfg, spec, req, res, stdout, stderr)
	return res, nil
}

// abandon kills a started container that must not run, ends its stdin and drains its
// output so the runtime can finish with it.
func abandon(ctx context.Context, p *Process) {
	_ = p.Kill(context.WithoutCancel(ctx))
	_ = p.Stdin.Close()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, p.Stderr); close(done) }()
	_, _ = io.Copy(io.Discard, p.Stdout)
	<-done
	_, _ = p.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// capped keeps the first max bytes written and counts the rest as dropped.
type capped struct {
	max     int
	buf     bytes.Buffer
	dropped int64
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room >= len(p) {
		c.buf.Write(p)
		return len(p), nil
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// markerParser finds OutputStart…OutputEnd blocks in a stream and hands each one on as soon
// as its end marker arrives. It keeps only the unparsed tail, so memory stays bounded by the
// largest single block.
type markerParser struct {
	buf     []byte
	onBlock func([]byte)
}

const maxBlock = 10 << 20

func (m *markerParser) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	for {
		s := bytes.Index(m.buf, []byte(OutputStart))
		if s < 0 {
			// Keep a possible partial marker at the end.
			if keep := len(OutputStart) - 1; len(m.buf) > keep {
				m.buf = append(m.buf[:0], m.buf[len(m.buf)-keep:]...)
			}
			return len(p), nil
		}
		e := bytes.Index(m.buf[s+len(OutputStart):], []byte(OutputEnd))
		if e < 0 {
			if len(m.buf)-s > maxBlock {
				m.buf = m.buf[:0] // a block that never ends: drop it
			} else if s > 0 {
				m.buf = append(m.buf[:0], m.buf[s:]...)
			}
			return len(p), nil
		}
		block := m.buf[s+len(OutputStart) : s+len(OutputStart)+e]
		m.onBlock(block)
		m.buf = append(m.buf[:0], m.buf[s+len(OutputStart)+e+len(OutputEnd):]...)
	}
}
