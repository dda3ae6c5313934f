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

	"github.com/fsnotify/fsnotify"
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
//   - seen: a follow-up message → the running agent acknowledging it on its socket;
//   - ipc: an IPC request on main's agent socket → the host's answer (performed: stored
//     for sending; the message then reaches the chat client).
func BenchmarkHostLatency(b *testing.B) {
	d := requireDocker(b)
	work := workDir(b, d)
	api, url := newMockAPI(b)
	vars := hostEnv(work, url)
	vars["IDLE_TIMEOUT"] = "1000" // each iteration's container closes a second after its last reply
	// NANOCLAW_BENCH_PLUGIN_IDLE=300ms releases the plugins between iterations (not while an
	// agent runs): every first message is then the first after NANOCLAW_PLUGIN_IDLE of silence.
	if v := os.Getenv("NANOCLAW_BENCH_PLUGIN_IDLE"); v != "" {
		vars["NANOCLAW_PLUGIN_IDLE"] = v
	}
	acks := make(chan time.Time, 16)
	stop, _ := startHostWith(b, work, vars, func(e *env) {
		e.onAck = func(string, string, []int64) {
			select {
			case acks <- time.Now():
			default:
			}
		}
	})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	main := dialChat(b, ctx, work, "local:main")
	// Each iteration starts from an idle host: the previous container is gone, not being
	// removed by the engine while the next one starts.
	gone := d.Client().Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("event", "destroy").Add("label", sandbox.LabelInstance+"="+sandbox.Instance(work))})

	var first, followup, seen, ipcLat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		main.say(fmt.Sprintf("first %d", i))
		r := api.next(b, 2*time.Minute)
		first = append(first, r.At.Sub(start))
		main.reply(time.Minute)

		start = time.Now()
		main.say(fmt.Sprintf("again %d", i))
		select {
		case at := <-acks:
			seen = append(seen, at.Sub(start))
		case <-time.After(time.Minute):
			b.Fatal("the running agent never acknowledged the follow-up")
		}
		r = api.next(b, time.Minute)
		followup = append(followup, r.At.Sub(start))
		main.reply(time.Minute)

		start = time.Now()
		if resp := sendIPC(b, work, "main", `{"type":"message","chatJid":"local:main","text":"ipc `+strconv.Itoa(i)+`"}`); !resp.OK {
			b.Fatalf("ipc: %+v", resp)
		}
		ipcLat = append(ipcLat, time.Since(start))
		main.reply(time.Minute)

		// The container closes after IDLE_TIMEOUT; the next iteration starts a fresh one.
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
	reportLatency(b, "seen", seen)
	reportLatency(b, "ipc", ipcLat)
}

// BenchmarkReplyUnderContention measures message → reply through the real host and real
// containers with MAX_CONCURRENT_CONTAINERS=2: uncontended (a free slot), and contended
// (both slots held by idle containers of other groups, which must yield one). The target
// is contended ≤ 2 × uncontended (ratio-p50).
func BenchmarkReplyUnderContention(b *testing.B) {
	d := requireDocker(b)
	work := workDir(b, d)
	_, url := newMockAPI(b)
	vars := hostEnv(work, url)
	vars["MAX_CONCURRENT_CONTAINERS"] = "2"
	vars["IDLE_TIMEOUT"] = "3000" // containers of an iteration are gone before the next
	vars["LOG_LEVEL"] = "info"
	const groups = 3 * 30
	for i := range groups {
		if out, code := cli(b, work, vars, "groups", "add", "--jid", fmt.Sprintf("local:c%02d", i), "--folder", fmt.Sprintf("c%02d", i), "--no-trigger-required"); code != 0 {
			b.Fatalf("groups add: %s", out)
		}
	}
	stop, _ := startHost(b, work, vars)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	gone := d.Client().Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("event", "destroy").Add("label", sandbox.LabelInstance+"="+sandbox.Instance(work))})
	reply := func(n int) time.Duration {
		c := dialChat(b, ctx, work, fmt.Sprintf("local:c%02d", n))
		defer c.conn.Close()
		start := time.Now()
		c.say(fmt.Sprintf("hello %d", n))
		c.reply(2 * time.Minute)
		return time.Since(start)
	}
	var free, contended []time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if 3*i+2 >= groups {
			b.Fatalf("at most %d iterations", groups/3)
		}
		u := reply(3 * i) // a slot is free
		reply(3*i + 1)    // now both slots hold idle containers
		c := reply(3*i + 2)
		free, contended = append(free, u), append(contended, c)
		ratios = append(ratios, float64(c)/float64(u))
		for range 3 { // every container of this iteration is removed before the next
			select {
			case <-gone.Messages:
			case err := <-gone.Err:
				b.Fatalf("engine events: %v", err)
			case <-time.After(time.Minute):
				b.Fatal("a container was not removed")
			}
		}
	}
	b.StopTimer()
	reportLatency(b, "free", free)
	reportLatency(b, "contended", contended)
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio-p50")
}

// BenchmarkHostIdleRSS starts the host binary with 20 registered groups and the default
// plugins and reports its resident memory (VmRSS, MiB): ready-rss-MiB once it serves,
// rss-MiB once idle, after its plugins released their engines (target ≤ 64 MB). The bench
// shortens NANOCLAW_PLUGIN_IDLE from its 30 minutes to 2 s; what is released is the same.
func BenchmarkHostIdleRSS(b *testing.B) {
	d := requireDocker(b)
	work := workDir(b, d)
	_, url := newMockAPI(b)
	vars := hostEnv(work, url)
	vars["LOG_LEVEL"] = "debug"
	vars["NANOCLAW_PLUGIN_IDLE"] = "2s"
	for i := 1; i < 20; i++ {
		if out, code := cli(b, work, vars, "groups", "add", "--jid", fmt.Sprintf("local:g%02d", i), "--folder", fmt.Sprintf("g%02d", i)); code != 0 {
			b.Fatalf("groups add: %s", out)
		}
	}
	bin := buildBinary(b, b.TempDir())
	var ready, idle []float64
	for i := 0; i < b.N; i++ {
		p := startProc(b, bin, work, vars, i%10)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		c := dialChat(b, ctx, work, "local:main")
		c.conn.Close()
		ready = append(ready, vmRSS(b, p.cmd.Process.Pid, ""))
		// Idle: nothing in flight, and every plugin has released its engine.
		waitLogCount(b, ctx, filepath.Join(work, fmt.Sprintf("host-%d.log", i%10)), "plugin idle: released", 3)
		cancel()
		idle = append(idle, vmRSS(b, p.cmd.Process.Pid, os.Getenv("NANOCLAW_BENCH_SMAPS")))
		p.kill(b)
	}
	sort.Float64s(ready)
	sort.Float64s(idle)
	b.ReportMetric(ready[len(ready)/2], "ready-rss-MiB")
	b.ReportMetric(idle[len(idle)/2], "rss-MiB")
}

// vmRSS reads a process's resident set as the kernel reports it, in MiB. With dump set, the
// kernel's per-mapping account (/proc/pid/smaps) is written there, to find where it goes.
func vmRSS(b *testing.B, pid int, dump string) float64 {
	b.Helper()
	if dump != "" {
		if smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid)); err == nil {
			_ = os.WriteFile(dump, smaps, 0o644)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/pid/status")
	return 0
}

// waitLogCount waits until the log file holds n lines containing sub, woken by fsnotify
// on each write.
func waitLogCount(b *testing.B, ctx context.Context, path, sub string, n int) {
	b.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(path); err != nil {
		b.Fatal(err)
	}
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if strings.Count(string(data), sub) >= n {
			return
		}
		select {
		case <-w.Events:
		case err := <-w.Errors:
			b.Fatal(err)
		case <-ctx.Done():
			b.Fatalf("%d lines with %q not logged in time:\n%s", n, sub, data)
		}
	}
}
