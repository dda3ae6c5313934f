package plugin

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// TestLoadRefused checks that modules outside the ABI or asking for more than they are
// granted never load, with an error that names the reason.
func TestLoadRefused(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	cases := []struct {
		wat  string
		caps []string
		want string
	}{
		{"forbidden", nil, "env.system is not a capability"},
		{"unknownhost", nil, "nanoclaw.exec is not a host function"},
		{"pathimport", nil, `needs capability "path", which the manifest does not ask for`},
		{"importmem", nil, "memory env.memory"},
		{"nocall", nil, "does not export policy_call"},
		{"mistyped", nil, "policy_call has signature (i32)->(i32)"},
		{"wrongabi", nil, "ABI version 2"},
		{"badbuf", nil, "mailbox"},
		{"tinybuf", nil, "at least 1 KiB"},
		{"trap", nil, "self-check"},
		{"garbage", nil, "self-check"},
		{"loop", nil, "self-check"},
	}
	for _, c := range cases {
		t.Run(c.wat, func(t *testing.T) {
			_, err := l.Load(context.Background(), testManifest(c.wat, protocol.KindMount, c.caps...), watWasm(t, c.wat))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("load error = %v, want it to mention %q", err, c.want)
			}
		})
	}
	t.Run("not wasm", func(t *testing.T) {
		_, err := l.Load(context.Background(), testManifest("junk", protocol.KindMount), []byte("\x00asm garbage"))
		if err == nil || !strings.Contains(err.Error(), "not a WebAssembly") {
			t.Fatalf("load error = %v, want it refused as not WebAssembly", err)
		}
	})
}

// TestCapabilityNotGrantedToKind: a manifest may ask only for what the operator grants its
// kind; by default a route plugin may not inspect host paths.
func TestCapabilityNotGrantedToKind(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	_, err := l.Load(context.Background(), testManifest("pathimport", protocol.KindRoute, abi.CapPath), watWasm(t, "pathimport"))
	if err == nil || !strings.Contains(err.Error(), `capability "path" is not granted to route plugins`) {
		t.Fatalf("err = %v", err)
	}
	p, err := l.Load(context.Background(), testManifest("pathimport", protocol.KindMount, abi.CapPath), watWasm(t, "pathimport"))
	if err != nil {
		t.Fatalf("mount plugins may use the path capability: %v", err)
	}
	p.Close(context.Background())
}

// TestFaults checks that malformed replies are classified as the right fault.
func TestFaults(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	cases := []struct {
		wat  string
		kind FaultKind
	}{
		{"hugelen", FaultMalformed},
		{"pastbuf", FaultMalformed},
		{"badstatus", FaultMalformed},
		{"errstatus", FaultError},
		{"trap", FaultTrap},
		{"loop", FaultTimeout},
		{"membomb", FaultMemory},
	}
	for _, c := range cases {
		t.Run(c.wat, func(t *testing.T) {
			// The self-check makes the first call, so the fault surfaces as the load error.
			m := testManifest(c.wat, protocol.KindIPC)
			if c.kind == FaultMemory {
				m.Limits.DeadlineMs = 5000 // growing to the cap takes wazero a while
			}
			bad, err := l.Load(context.Background(), m, watWasm(t, c.wat))
			if err == nil {
				bad.Close(context.Background())
				t.Fatalf("%s passed its self-check", c.wat)
			}
			var f *Fault
			if !errors.As(err, &f) || f.Kind != c.kind {
				t.Fatalf("fault = %v, want kind %s", err, c.kind)
			}
		})
	}
}

// TestProbeFaults uses the Go probe guest: each bad behaviour is a fault of the right kind,
// and the plugin keeps answering afterwards on a fresh or the same instance.
func TestProbeFaults(t *testing.T) {
	l, logs := newTestLoader(t, Services{})
	l.grants = Grants{protocol.KindIPC: abi.Capabilities()}
	m := testManifest("probe", protocol.KindIPC, abi.Capabilities()...)
	m.Limits.DeadlineMs = 3000 // filling 32 MiB takes a Go guest a few hundred ms
	p, err := l.Load(context.Background(), m, probeWasm(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	cases := []struct {
		mode string
		kind FaultKind
	}{
		{"hog", FaultMemory},
		{"panic", FaultError},
		{"exit", FaultTrap},
		{"big", FaultTooLarge},
		{"oversize", FaultTooLarge},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			_, f := call(t, p, `{"mode":"`+c.mode+`"}`)
			if f == nil || f.Kind != c.kind {
				t.Fatalf("fault = %v, want kind %s", f, c.kind)
			}
			for range 3 { // every instance of the pool answers afterwards
				if out, f := call(t, p, `{"mode":"ok"}`); f != nil || !strings.Contains(out, `"allow":true`) {
					t.Fatalf("call after %s: %q %v", c.mode, out, f)
				}
			}
		})
	}
	if p.Stats().Tripped {
		t.Fatal("isolated faults separated by successes must not trip the breaker")
	}
	logs.waitFor(t, "probe panics on purpose")
}

// TestDeadlineStopsLoop: a Go guest stuck in a loop is stopped at its deadline, its
// instance is replaced, and the next calls succeed.
func TestDeadlineStopsLoop(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	p := loadProbe(t, l, protocol.KindMount) // deadline 100 ms
	for range 3 {
		start := time.Now()
		_, f := call(t, p, `{"mode":"loop"}`)
		if f == nil || f.Kind != FaultTimeout {
			t.Fatalf("fault = %v, want a timeout", f)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("loop stopped after %v, before its deadline", d)
		}
		if out, f := call(t, p, `{"mode":"ok"}`); f != nil || !strings.Contains(out, `"allow":true`) {
			t.Fatalf("call after a timeout: %s %v", out, f)
		}
	}
}

// TestBreaker trips after BreakerThreshold consecutive faults and stays open.
func TestBreaker(t *testing.T) {
	l, logs := newTestLoader(t, Services{})
	p := loadProbe(t, l, protocol.KindRoute)
	for range BreakerThreshold {
		if _, f := call(t, p, `{"mode":"panic"}`); f == nil {
			t.Fatal("panic did not fault")
		}
	}
	if !p.Stats().Tripped {
		t.Fatal("breaker did not trip")
	}
	if _, f := call(t, p, `{"mode":"ok"}`); f == nil || f.Kind != FaultTripped {
		t.Fatalf("tripped plugin answered: %v", f)
	}
	logs.waitFor(t, "plugin tripped")
}

// TestHostFunctions checks each capability through the probe guest.
func TestHostFunctions(t *testing.T) {
	cfg := &StaticConfig{}
	cfg.Set("probe-config", []byte(`{"hello":"world"}`))
	dir := t.TempDir()
	l, logs := newTestLoader(t, Services{Config: cfg, Paths: OSPaths{Home: dir}, Clock: func() time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) }})
	l.grants = Grants{protocol.KindMount: abi.Capabilities()}
	m := testManifest("probe", protocol.KindMount, abi.Capabilities()...)
	m.Config = "probe-config"
	p, err := l.Load(context.Background(), m, probeWasm(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	cases := []struct{ mode, want string }{
		{"now", `"reason":"2031"`},
		{"lookup:family@g.us", `\"folder\":\"family\"`},
		{"resolve:~", `"reason":"` + dir},
		{"config", `\"hello\":\"world\"`},
		{"kv", `"reason":"x"`},
		{"kv", `"reason":"xx"`},
	}
	for _, c := range cases {
		out, f := call(t, p, `{"mode":"`+c.mode+`"}`)
		if f != nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: got %s %v, want %s", c.mode, out, f, c.want)
		}
	}
	if _, f := call(t, p, `{"mode":"lookup:nobody"}`); f == nil || !strings.Contains(f.Error(), "not found") {
		t.Errorf("lookup of an unknown group: %v", f)
	}
	call(t, p, `{"mode":"print"}`)
	logs.waitFor(t, "probe prints to stdout")
	logs.waitFor(t, "probe prints to stderr")
	logs.waitFor(t, "probe logs through the host")
}

// TestHostFunctionAbuse: out-of-range pointers and lengths handed to host functions are
// refused without harming the host, and the call still completes.
func TestHostFunctionAbuse(t *testing.T) {
	l, _ := newTestLoader(t, Services{Config: &StaticConfig{}})
	m := testManifest("hostabuse", protocol.KindIPC, abi.CapLog, abi.CapGroups, abi.CapKV, abi.CapConfig)
	m.Config = "x"
	p, err := l.Load(context.Background(), m, watWasm(t, "hostabuse"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for range 10 {
		if out, f := call(t, p, `{}`); f != nil || !strings.Contains(out, `"allow":true`) {
			t.Fatalf("call: %s %v", out, f)
		}
	}
}

// TestRequestTooLarge is refused before the guest runs and is not the plugin's fault.
func TestRequestTooLarge(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	p, err := l.Load(context.Background(), testManifest("allow", protocol.KindIPC), watWasm(t, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	_, f := call(t, p, strings.Repeat(" ", 70000))
	if f == nil || f.Kind != FaultRequest {
		t.Fatalf("fault = %v", f)
	}
	if p.Stats().Faults != 0 {
		t.Fatal("an oversize request counted against the plugin")
	}
}

// TestConcurrentCalls hammers one plugin from many goroutines, with faults mixed in.
func TestConcurrentCalls(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	p := loadProbe(t, l, protocol.KindRoute)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				mode := "ok"
				if g == 0 && i%10 == 0 {
					mode = "panic"
				}
				out, err := p.Call(context.Background(), []byte(`{"mode":"`+mode+`"}`), nil)
				if mode == "ok" && (err != nil || !strings.Contains(string(out), "deliver")) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent call failed: %v", err)
	}
}

// TestBreakerRecovers: a plugin tripped by a burst of faulting inputs recovers once its
// self-check passes again; one that fails its self-check too stays tripped.
func TestBreakerRecovers(t *testing.T) {
	l, logs := newTestLoader(t, Services{})
	l.probe = 10 * time.Millisecond
	p := loadProbe(t, l, protocol.KindIPC)
	for range BreakerThreshold {
		call(t, p, `{"mode":"panic"}`)
	}
	if !p.Stats().Tripped {
		t.Fatal("breaker did not trip")
	}
	logs.waitFor(t, "plugin recovered")
	if out, f := call(t, p, `{"mode":"ok"}`); f != nil || !strings.Contains(out, `"allow":true`) {
		t.Fatalf("after recovery: %s %v", out, f)
	}
}

// TestNoBreakerReportsEachFault: with the breaker off (fuzzing), a plugin that keeps
// panicking reports its panic on every call, never "circuit breaker open" — the fuzzer once
// blamed an innocent input for a breaker the inputs before it had tripped.
func TestNoBreakerReportsEachFault(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	l.noBreaker = true
	p := loadProbe(t, l, protocol.KindRoute)
	for i := range 3 * BreakerThreshold {
		if _, f := call(t, p, `{"mode":"panic"}`); f == nil || f.Kind != FaultError || !strings.Contains(f.Error(), "probe panics on purpose") {
			t.Fatalf("call %d: fault %v, want the panic", i, f)
		}
	}
	if p.Stats().Tripped {
		t.Fatal("tripped with the breaker off")
	}
}
