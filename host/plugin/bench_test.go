package plugin

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/benchpolicy"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// benchRequest is a typical routing request: a message of eight fields, the group, the name.
var benchRequest = protocol.RouteRequest{
	Message: protocol.Message{
		ID: "3EB0C431C26A1D5A7F4E", ChatJID: "family@g.us", Sender: "447700900123@s.whatsapp.net",
		SenderName: "Alice", Content: "@Andy what's on the calendar for Saturday?",
		Timestamp: "2026-11-25T14:03:11Z",
	},
	Group:         &protocol.Group{JID: "family@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true},
	AssistantName: "Andy",
}

func loadBench(b *testing.B, instances int) (*Registry, *Plugin) {
	b.Helper()
	l, _ := newTestLoader(b, Services{})
	m := testManifest("bench", protocol.KindRoute, abi.CapGroups)
	m.Limits.Instances = instances
	p, err := l.Load(context.Background(), m, readWasm(b, plugintest.BuildGo(b, "./testdata/guests/bench", "")))
	if err != nil {
		b.Fatal(err)
	}
	r := NewRegistry(l, nil)
	r.plugins["bench"] = p
	r.rebuild()
	b.Cleanup(func() { r.Close(context.Background()) })
	return r, p
}

// nativeDecision is the same work the guest does, compiled natively: decode the request,
// look the group up (encoded and decoded as through the host function), decide, encode.
func nativeDecision(req, out []byte) []byte {
	var r protocol.RouteRequest
	if r.UnmarshalJSON(req) != nil {
		return out
	}
	v := benchpolicy.Decide(&r, func(jid string) (string, bool, bool) {
		g, ok := testGroups.LookupGroup([]byte(jid))
		if !ok {
			return "", false, false
		}
		var back protocol.Group
		if back.UnmarshalJSON(g.AppendJSON(nil)) != nil {
			return "", false, false
		}
		return back.Folder, back.RequiresTrigger, true
	})
	return v.AppendJSON(out)
}

// BenchmarkDecision is one routing decision (deadline enforcement on), through the chain
// with the Go guest, through Plugin.Call alone, with a minimal hand-written guest (the
// host's own overhead), and natively.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	req := benchRequest.AppendJSON(nil)
	b.Run("wasm-chain", func(b *testing.B) {
		r, _ := loadBench(b, 1)
		b.ReportAllocs()
		for b.Loop() {
			if d := r.DecideRoute(ctx, &benchRequest); d.Action != protocol.ActionDeliver {
				b.Fatalf("decision %+v", d)
			}
		}
	})
	b.Run("wasm-call", func(b *testing.B) {
		_, p := loadBench(b, 1)
		out := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if out, err = p.Call(ctx, req, out[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wat-noop-call", func(b *testing.B) {
		l, _ := newTestLoader(b, Services{})
		m := testManifest("allow", protocol.KindRoute)
		m.Limits.Instances = 1
		p, err := l.Load(ctx, m, watWasm(b, "allow"))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close(ctx)
		out := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			if out, err = p.Call(ctx, req, out[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("native", func(b *testing.B) {
		out := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			out = nativeDecision(req, out[:0])
		}
	})
}

// BenchmarkDecisionLatency reports the distribution of single decisions: p50, p95 and p99
// in microseconds, for the Go guest and for the native build.
func BenchmarkDecisionLatency(b *testing.B) {
	ctx := context.Background()
	req := benchRequest.AppendJSON(nil)
	measure := func(b *testing.B, op func()) {
		lat := make([]time.Duration, 0, 1<<16)
		for b.Loop() {
			start := time.Now()
			op()
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
		b.ReportMetric(q(0.50), "p50-µs")
		b.ReportMetric(q(0.95), "p95-µs")
		b.ReportMetric(q(0.99), "p99-µs")
	}
	b.Run("wasm", func(b *testing.B) {
		r, _ := loadBench(b, 1)
		measure(b, func() { r.DecideRoute(ctx, &benchRequest) })
	})
	b.Run("native", func(b *testing.B) {
		out := make([]byte, 0, 1024)
		measure(b, func() { out = nativeDecision(req, out[:0]) })
	})
}

// BenchmarkThroughput runs decisions from every core: a warm pool of GOMAXPROCS instances
// against a single instance (the pool of one acts as the mutex), and natively.
func BenchmarkThroughput(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, runtime.GOMAXPROCS(0)} {
		name := "pool-" + itoa(n)
		if n == 1 {
			name = "single-instance"
		}
		b.Run(name, func(b *testing.B) {
			r, _ := loadBench(b, n)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if d := r.DecideRoute(ctx, &benchRequest); d.Action != protocol.ActionDeliver {
						b.Errorf("decision %+v", d)
						return
					}
				}
			})
		})
	}
	b.Run("native", func(b *testing.B) {
		req := benchRequest.AppendJSON(nil)
		b.RunParallel(func(pb *testing.PB) {
			out := make([]byte, 0, 1024)
			for pb.Next() {
				out = nativeDecision(req, out[:0])
			}
		})
	})
}

func itoa(n int) string { return string(rune('0' + n)) }

// BenchmarkReload measures a changed plugin file becoming the serving version through the
// watcher (write → event → compile from the warm cache → pool → self-check → swap), and a
// cold load with an empty compilation cache.
func BenchmarkReload(b *testing.B) {
	builds := []string{
		plugintest.BuildGo(b, "./testdata/guests/probe", "-X main.version=b1"),
		plugintest.BuildGo(b, "./testdata/guests/probe", "-X main.version=b2"),
	}
	b.Run("watched-warm", func(b *testing.B) {
		l, _ := newTestLoader(b, Services{})
		l.grants = Grants{protocol.KindIPC: abi.Capabilities()}
		r := NewRegistry(l, nil)
		defer r.Close(context.Background())
		dir := b.TempDir()
		plugintest.Install(b, dir, "guard", builds[0], probeManifest("guard", protocol.KindIPC, 100))
		plugintest.Install(b, dir, "guard", builds[1], probeManifest("guard", protocol.KindIPC, 100))
		if err := r.LoadDir(context.Background(), dir); err != nil { // warms the cache for b2
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		events := make(chan Event, 16)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Watch(ctx, dir, func(e Event) { events <- e }) }()
		defer func() { cancel(); wg.Wait() }()
		wasms := [][]byte{readWasm(b, builds[0]), readWasm(b, builds[1])}
		i := 0
		for b.Loop() {
			i++
			want := "b" + itoa(i%2+1)
			if err := plugintest.WriteAtomic(filepath.Join(dir, "guard.wasm"), wasms[i%2]); err != nil {
				b.Fatal(err)
			}
			for {
				e := <-events
				if e.Err != nil {
					b.Fatal(e.Err)
				}
				if d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "ok", Request: []byte(`{}`)}); d.Reason == want {
					break
				}
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		wasm := readWasm(b, builds[0])
		m := testManifest("probe", protocol.KindIPC, abi.Capabilities()...)
		for b.Loop() {
			l, err := NewLoader(LoaderConfig{CacheDir: filepath.Join(b.TempDir(), "cache"), Grants: Grants{protocol.KindIPC: abi.Capabilities()}})
			if err != nil {
				b.Fatal(err)
			}
			p, err := l.Load(context.Background(), m, wasm)
			if err != nil {
				b.Fatal(err)
			}
			p.Close(context.Background())
			_ = l.Close(context.Background())
		}
	})
}

// BenchmarkInstanceMemory reports what one more warm instance of a Go guest costs after it
// has served decisions: Go heap on the host (the difference between pools of 1 and 9, so the
// shared compiled module is not counted) and the guest's linear memory.
func BenchmarkInstanceMemory(b *testing.B) {
	ctx := context.Background()
	heapWith := func(n int) (heap, linear float64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, p := loadBench(b, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 500 {
					r.DecideRoute(ctx, &benchRequest)
				}
			}()
		}
		wg.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		taken := make([]*instance, 0, n)
		for range n {
			in, _ := p.eng.pool.get(ctx)
			linear += float64(in.mem.Size())
			taken = append(taken, in)
		}
		for _, in := range taken {
			p.eng.pool.put(in)
		}
		return float64(after.HeapInuse) - float64(before.HeapInuse), linear / float64(n)
	}
	for b.Loop() {
		one, _ := heapWith(1)
		nine, linear := heapWith(9)
		b.ReportMetric((nine-one)/8/(1<<20), "heap-MiB/instance")
		b.ReportMetric(linear/(1<<20), "linear-MiB/instance")
	}
}

// BenchmarkResume: the first decision of a default plugin after an idle release, which
// starts its engine again from the kept module and the compilation cache. This is what the
// first message after NANOCLAW_PLUGIN_IDLE adds, per plugin it needs.
func BenchmarkResume(b *testing.B) {
	for _, name := range []string{"router", "mountguard", "ipcauthz"} {
		b.Run(name, func(b *testing.B) {
			root, err := plugintest.ModuleRoot()
			if err != nil {
				b.Fatal(err)
			}
			m, err := ReadManifest(filepath.Join(root, "plugins", name, "manifest.json"))
			if err != nil {
				b.Fatal(err)
			}
			released := make(chan struct{}, 1)
			l, err := NewLoader(LoaderConfig{CacheDir: plugintest.CacheDir(), Services: Services{Groups: testGroups},
				IdleRelease: time.Millisecond, Released: func() { released <- struct{}{} }})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(context.Background())
			p, err := l.Load(context.Background(), m, readWasm(b, plugintest.BuildGo(b, filepath.Join(root, "plugins", name), "")))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			for b.Loop() {
				b.StopTimer()
				<-released
				b.StartTimer()
				if err := selfCheck(context.Background(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
