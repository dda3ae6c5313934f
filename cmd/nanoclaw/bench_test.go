package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/sandbox"
)

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func reportLatency(b *testing.B, name string, ds []time.Duration) {
	b.ReportMetric(float64(percentile(ds, 50).Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(percentile(ds, 99).Microseconds())/1000, name+"-p99-ms")
}

// BenchmarkHostLatency measures, through the real host and real containers:
//   - first: a message received (stored by the host) → the first model request at the mock,
//     with no container running for the group (NanoClaw's 2 s poll alone averages 1 s);
//   - followup: a follow-up message → the running agent's next model request;
//   - ipc: an IPC message file written → the message delivered to the chat client.
func BenchmarkHostLatency(b *testing.B) {
	d := requireDocker(b)
	work := workDir(b, d)
	api, url := newMockAPI(b)
	vars := hostEnv(work, url)
	stop, _ := startHost(b, work, vars)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	main := dialChat(b, ctx, work, "local:main")
	// Each iteration starts from an idle host: the previous container is gone, not being
	// removed by the engine while the next one starts.
	gone := d.Client().Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("event", "destroy").Add("label", sandbox.LabelInstance+"="+sandbox.Instance(work))})

	var first, followup, ipcLat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		main.say(fmt.Sprintf("first %d", i))
		r := api.next(b, 2*time.Minute)
		first = append(first, r.At.Sub(start))
		main.reply(time.Minute)

		start = time.Now()
		main.say(fmt.Sprintf("again %d", i))
		r = api.next(b, time.Minute)
		followup = append(followup, r.At.Sub(start))
		main.reply(time.Minute)

		start = time.Now()
		writeIPC(b, work, "main", "messages", `{"type":"message","chatJid":"local:main","text":"ipc `+strconv.Itoa(i)+`"}`)
		main.reply(time.Minute)
		ipcLat = append(ipcLat, time.Since(start))

		// End the container so the next iteration starts a fresh one.
		if err := os.WriteFile(filepath.Join(work, "data", "ipc", "main", "input", "_close"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		select {
		case <-gone.Messages:
		case err := <-gone.Err:
			b.Fatalf("engine events: %v", err)
		case <-time.After(time.Minute):
			b.Fatal("the container was not removed")
		}
	}
	b.StopTimer()
	reportLatency(b, "first", first)
	reportLatency(b, "followup", followup)
	reportLatency(b, "ipc", ipcLat)
}

// BenchmarkHostIdleRSS starts the host binary with 20 registered groups and the default
// plugins and reports its resident memory (VmRSS, MiB) once idle (target ≤ 64 MB).
func BenchmarkHostIdleRSS(b *testing.B) {
	d := requireDocker(b)
	work := workDir(b, d)
	_, url := newMockAPI(b)
	vars := hostEnv(work, url)
	vars["LOG_LEVEL"] = "info"
	for i := 1; i < 20; i++ {
		if out, code := cli(b, work, vars, "groups", "add", "--jid", fmt.Sprintf("local:g%02d", i), "--folder", fmt.Sprintf("g%02d", i)); code != 0 {
			b.Fatalf("groups add: %s", out)
		}
	}
	bin := buildBinary(b, b.TempDir())
	var rss []float64
	for i := 0; i < b.N; i++ {
		p := startProc(b, bin, work, vars, i)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		c := dialChat(b, ctx, work, "local:main")
		c.conn.Close()
		cancel()
		// Idle: nothing in flight. Read the resident set as the kernel reports it.
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				rss = append(rss, kb/1024)
			}
		}
		p.kill(b)
	}
	sort.Float64s(rss)
	b.ReportMetric(rss[len(rss)/2], "rss-MiB")
}
