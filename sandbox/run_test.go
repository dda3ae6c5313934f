package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func block(json string) string {
	return "echo '" + OutputStart + "'; echo '" + json + "'; echo '" + OutputEnd + "'; "
}

func TestRun(t *testing.T) {
	d := docker(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		script   string
		cfg      RunConfig
		status   string
		outputs  int
		timedOut bool
		session  string
		errText  string
		closed   bool // the run was asked to close
	}{
		{name: "two results", script: block(`{"status":"success","result":"one","newSessionId":"s1"}`) + "echo noise; " + block(`{"status":"success","result":"two","newSessionId":"s2"}`),
			status: "success", outputs: 2, session: "s2"},
		{name: "malformed block skipped", script: block(`{not json`) + block(`{"status":"success","result":"ok"}`), status: "success", outputs: 1},
		{name: "non-zero exit", script: "echo boom >&2; exit 3", status: "error", errText: "code 3: boom"},
		{name: "timeout without output", script: "sleep 30", cfg: RunConfig{Timeout: time.Second, Idle: time.Second, IdleGrace: time.Millisecond},
			status: "error", timedOut: true, errText: "timed out"},
		{name: "timeout after output is success", script: block(`{"status":"success","result":"hi","newSessionId":"s9"}`) + "sleep 30",
			cfg: RunConfig{Timeout: 2 * time.Second, Idle: time.Second, IdleGrace: time.Millisecond}, status: "success", outputs: 1, timedOut: true, session: "s9", closed: true},
		{name: "idle close", script: block(`{"status":"success","result":"hi"}`) + "while [ ! -e /workspace/group/closed ]; do sleep 0.05; done; echo closed",
			cfg: RunConfig{Idle: 300 * time.Millisecond, Timeout: time.Minute}, status: "success", outputs: 1, closed: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := layout(t)
			spec, err := BuildSpec(ctx, l, RunSpec{Folder: "family", SocketDir: sockDir(t, l, "family"), Image: testImage, Now: time.Now()}, allowAll{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			spec.Entrypoint = []string{"/bin/sh", "-c", "read req; " + c.script}
			cfg := c.cfg
			var closed atomic.Bool
			cfg.Close = func() {
				closed.Store(true) // the runner would now finish its turn and exit
				_ = os.WriteFile(filepath.Join(l.ProjectRoot, "groups", "family", "closed"), nil, 0o644)
			}
			cfg.LogDir = filepath.Join(l.DataDir, "logs", "family")
			var outs []RunOutput
			res, err := Run(ctx, d, spec, RunRequest{Prompt: "hello", GroupFolder: "family", ChatJID: "family@g.us"}, cfg, func(o RunOutput) { outs = append(outs, o) })
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.status || len(outs) != c.outputs || res.TimedOut != c.timedOut || res.NewSessionID != c.session || !strings.Contains(res.Error, c.errText) {
				t.Fatalf("result %+v with %d outputs %+v", res, len(outs), outs)
			}
			if closed.Load() != c.closed {
				t.Errorf("asked to close = %v, want %v", closed.Load(), c.closed)
			}
			log, err := os.ReadFile(res.LogFile)
			if err != nil || !strings.Contains(string(log), "=== Container run ===") || !strings.Contains(string(log), "group: family") {
				t.Fatalf("run log %s: %v\n%s", res.LogFile, err, log)
			}
			if filepath.Dir(res.LogFile) != cfg.LogDir {
				t.Errorf("run log at %s, want it in %s", res.LogFile, cfg.LogDir)
			}
			if c.status == "error" && c.errText == "code 3: boom" && !strings.Contains(string(log), "| boom") {
				t.Errorf("an error's log lacks stderr:\n%s", log)
			}
		})
	}
}

// TestMarkerParser feeds the same stream in every chunking: each block comes out once.
func TestMarkerParser(t *testing.T) {
	stream := "junk" + OutputStart + `{"a":1}` + OutputEnd + "more" + OutputStart + `{"b":2}` + OutputEnd + OutputStart + "unfinished"
	for size := 1; size <= len(stream); size++ {
		var got []string
		p := markerParser{onBlock: func(b []byte) { got = append(got, string(b)) }}
		for i := 0; i < len(stream); i += size {
			_, _ = p.Write([]byte(stream[i:min(i+size, len(stream))]))
		}
		if strings.Join(got, "|") != `{"a":1}|{"b":2}` {
			t.Fatalf("chunk size %d: blocks %q", size, got)
		}
	}
}

func FuzzMarkerParser(f *testing.F) {
	f.Add([]byte(OutputStart+`{"status":"success"}`+OutputEnd), uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		size := int(chunk)%64 + 1
		var whole, split []string
		p := markerParser{onBlock: func(b []byte) { whole = append(whole, string(b)) }}
		_, _ = p.Write(stream)
		q := markerParser{onBlock: func(b []byte) { split = append(split, string(b)) }}
		for i := 0; i < len(stream); i += size {
			_, _ = q.Write(stream[i:min(i+size, len(stream))])
		}
		if strings.Join(whole, "\x00") != strings.Join(split, "\x00") {
			t.Fatalf("chunking changed the blocks: %q vs %q", whole, split)
		}
	})
}

func TestHardTimeout(t *testing.T) {
	for _, c := range []struct {
		cfg  RunConfig
		want time.Duration
	}{
		{RunConfig{}, 30*time.Minute + 30*time.Second},
		{RunConfig{Timeout: time.Hour}, time.Hour},
		{RunConfig{Timeout: time.Minute, Idle: 5 * time.Minute}, 5*time.Minute + 30*time.Second},
	} {
		if got := c.cfg.HardTimeout(); got != c.want {
			t.Errorf("HardTimeout(%+v) = %v, want %v", c.cfg, got, c.want)
		}
	}
}
