package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/sandbox/imagetest"
)

// BenchmarkFirstModelRequest measures, for each agent image (minimal and full), container
// start → the agent's first model request arriving at a mock Messages API, through a real
// container and the credential proxy; and in the same iterations a bare `docker run --rm`
// of the same image (its entrypoint replaced by /bin/echo), timed to its first output, so the
// engine's own start cost is measured alongside. It reports p50 and p95 of the first (ms), the bare run's p50 (ms) and
// ratio-p50 = first p50 / bare p50. The full image is skipped where its base is not built.
func BenchmarkFirstModelRequest(b *testing.B) {
	d, err := NewDocker()
	if err != nil || d.Ping(context.Background()) != nil {
		b.Skip("no container engine")
	}
	for _, kind := range imagetest.Kinds {
		b.Run(string(kind), func(b *testing.B) { benchFirstModelRequest(b, d, agentImage(b, d, kind)) })
	}
}

func benchFirstModelRequest(b *testing.B, d *Docker, image string) {
	first := make(chan time.Time, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case first <- time.Now():
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"m","type":"message","role":"assistant","model":"x","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	proxy, err := credproxy.New(credproxy.Config{Upstream: u, APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	l := layout(b)
	srv := serveAgents(b, l, proxy, &recordedIPC{})
	ctx := context.Background()
	var lat, bare []time.Duration
	n := 0
	for b.Loop() {
		n++
		bare = append(bare, bareRun(b, ctx, image))

		sock, run := startRun(b, srv, "bench", fmt.Sprint("run-", n))
		spec, err := BuildSpec(ctx, l, RunSpec{Folder: "bench", SocketDir: sock, Image: image, Now: time.Now()}, allowAll{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = Run(ctx, d, spec, RunRequest{Prompt: "hi", GroupFolder: "bench", ChatJID: "b@g.us", RunID: run.ID()}, RunConfig{
				Idle: 10 * time.Millisecond, IdleGrace: 30 * time.Second, Timeout: time.Minute, Close: func() { run.Close() }}, nil)
			run.End()
		}()
		select {
		case at := <-first:
			lat = append(lat, at.Sub(start))
		case <-time.After(time.Minute):
			b.Fatal("no model request")
		}
		<-done
	}
	slices.Sort(lat)
	slices.Sort(bare)
	p50, bare50 := lat[len(lat)/2], bare[len(bare)/2]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*95)/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(bare50.Microseconds())/1000, "bare-p50-ms")
	b.ReportMetric(float64(p50)/float64(bare50), "ratio-p50")
}

// bareRun times `docker run --rm --network none --entrypoint /bin/echo IMAGE up` from the
// command's start to the container's first output: a container start with nothing of ours
// in it. The run's exit and removal are waited for but not timed.
func bareRun(b *testing.B, ctx context.Context, image string) time.Duration {
	b.Helper()
	cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/echo", image, "up")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	took := time.Since(start)
	if err != nil || line != "up\n" {
		b.Fatalf("bare docker run printed %q, %v: %s", line, err, stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("bare docker run: %v: %s", err, stderr.String())
	}
	return took
}
