package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
)

// BenchmarkFirstModelRequest measures container start → the agent's first model request
// arriving at the mock API, through a real container from the minimal image and the
// credential proxy. It reports p50 and p95 in milliseconds.
func BenchmarkFirstModelRequest(b *testing.B) {
	d, err := NewDocker()
	if err != nil || d.Ping(context.Background()) != nil {
		b.Skip("no container engine")
	}
	buildAgentImage(b, d)
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
	var lat []time.Duration
	n := 0
	for b.Loop() {
		n++
		sock, run := startRun(b, srv, "bench", fmt.Sprint("run-", n))
		spec, err := BuildSpec(ctx, l, RunSpec{Folder: "bench", SocketDir: sock, Image: agentImageBuilder.Tag(), Now: time.Now()}, allowAll{}, nil)
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
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*95)/100].Milliseconds()), "p95-ms")
}
