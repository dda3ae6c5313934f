package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

func probeBuild(t testing.TB, version, forced string) string {
	flags := "-X main.version=" + version
	if forced != "" {
		flags += " -X main.forced=" + forced
	}
	return plugintest.BuildGo(t, "./testdata/guests/probe", flags)
}

func probeManifest(name string, kind protocol.Kind, order int) map[string]any {
	m := map[string]any{
		"name": name, "kind": kind, "abi": abi.Version, "order": order,
		"capabilities": []string{abi.CapLog, abi.CapClock, abi.CapGroups, abi.CapKV, abi.CapConfig, abi.CapPath},
		"limits":       map[string]any{"deadlineMs": 200, "instances": 2},
	}
	if kind == protocol.KindRoute {
		// The probe delivers a message from an unregistered chat to main.
		m["deliverTo"] = []string{"main"}
	}
	return m
}

func newTestRegistry(t *testing.T) (*Registry, string, *logSink) {
	l, logs := newTestLoader(t, Services{})
	l.grants = Grants{protocol.KindMount: abi.Capabilities(), protocol.KindIPC: abi.Capabilities(), protocol.KindRoute: abi.Capabilities()}
	log, _ := testLogger()
	_ = log
	r := NewRegistry(l, l.log)
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, t.TempDir(), logs
}

func TestEmptyChainsFailClosed(t *testing.T) {
	r, _, _ := newTestRegistry(t)
	ctx := context.Background()
	if d := r.DecideMount(ctx, &protocol.MountRequest{HostPath: "/tmp"}); d.Allow || !strings.Contains(d.Reason, "no mount policy") {
		t.Errorf("mount with no plugin: %+v", d)
	}
	if d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "main", IsMain: true, Request: []byte(`{}`)}); d.Allow || !strings.Contains(d.Reason, "no ipc policy") {
		t.Errorf("ipc with no plugin: %+v", d)
	}
	if d := r.DecideRoute(ctx, &protocol.RouteRequest{}); d.Action != protocol.ActionNone {
		t.Errorf("route with no plugin: %+v", d)
	}
}

func TestChains(t *testing.T) {
	r, dir, _ := newTestRegistry(t)
	ctx := context.Background()
	install := func(stem string, kind protocol.Kind, order int, forced string) {
		plugintest.Install(t, dir, stem, probeBuild(t, stem, forced), probeManifest(stem, kind, order))
		if err := r.LoadFile(ctx, filepath.Join(dir, stem+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	install("mount-a", protocol.KindMount, 10, "")
	install("mount-b", protocol.KindMount, 20, "")
	if d := r.DecideMount(ctx, &protocol.MountRequest{Group: "ok"}); !d.Allow || d.HostPath != "/probe" || d.DecidedBy != "mount-a,mount-b" {
		t.Fatalf("two allowing mount plugins: %+v", d)
	}
	install("mount-c", protocol.KindMount, 30, "deny")
	if d := r.DecideMount(ctx, &protocol.MountRequest{Group: "ok"}); d.Allow || d.DecidedBy != "mount-c" || d.HostPath != "" {
		t.Fatalf("a denying plugin must win: %+v", d)
	}
	// A plugin that faults would fail its self-check, so the faulting one follows the request.
	install("ipc-a", protocol.KindIPC, 10, "ok")
	install("ipc-b", protocol.KindIPC, 20, "")
	if d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "panic", Request: []byte(`{}`)}); d.Allow || d.DecidedBy != "ipc-b" || !strings.Contains(d.Reason, "panic") {
		t.Fatalf("a faulting ipc plugin must deny: %+v", d)
	}
	install("route-late", protocol.KindRoute, 1000, "ok")
	install("route-broken", protocol.KindRoute, 5, "")
	install("route-early", protocol.KindRoute, 10, "deny")
	if d := r.DecideRoute(ctx, &protocol.RouteRequest{Message: protocol.Message{Content: "garbage"}}); d.Action != protocol.ActionIgnore || d.DecidedBy != "route-early" {
		t.Fatalf("route: the first deciding plugin wins, a broken one is skipped: %+v", d)
	}
	var names []string
	for _, in := range r.List() {
		names = append(names, in.Name)
	}
	if got := strings.Join(names, ","); got != "mount-a,mount-b,mount-c,ipc-a,ipc-b,route-broken,route-early,route-late" {
		t.Fatalf("list order = %s", got)
	}
}

// TestDecidedByOnAllow: an allow of the all-must-allow chains names every plugin that
// allowed, in chain order; it used to be empty.
func TestDecidedByOnAllow(t *testing.T) {
	r, dir, _ := newTestRegistry(t)
	ctx := context.Background()
	install := func(stem string, kind protocol.Kind, order int) {
		plugintest.Install(t, dir, stem, probeBuild(t, stem, ""), probeManifest(stem, kind, order))
		if err := r.LoadFile(ctx, filepath.Join(dir, stem+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		stem      string
		kind      protocol.Kind
		order     int
		mount, ip string // DecidedBy of an allow afterwards
	}{
		{"mount-b", protocol.KindMount, 20, "mount-b", "host"},
		{"mount-a", protocol.KindMount, 10, "mount-a,mount-b", "host"},
		{"ipc-a", protocol.KindIPC, 10, "mount-a,mount-b", "ipc-a"},
		{"ipc-b", protocol.KindIPC, 20, "mount-a,mount-b", "ipc-a,ipc-b"},
	}
	for _, s := range steps {
		install(s.stem, s.kind, s.order)
		if d := r.DecideMount(ctx, &protocol.MountRequest{Group: "ok"}); !d.Allow || d.DecidedBy != s.mount {
			t.Fatalf("after %s: mount %+v, want an allow by %q", s.stem, d, s.mount)
		}
		d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "ok", Request: []byte(`{}`)})
		if d.DecidedBy != s.ip || d.Allow != (s.ip != "host") {
			t.Fatalf("after %s: ipc %+v, want decided by %q", s.stem, d, s.ip)
		}
	}
}

func TestWatchReload(t *testing.T) {
	r, dir, logs := newTestRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	plugintest.Install(t, dir, "guard", probeBuild(t, "v1", ""), probeManifest("guard", protocol.KindIPC, 100))
	if err := r.LoadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 64)
	watching := make(chan error, 1)
	go func() { watching <- r.Watch(ctx, dir, func(e Event) { events <- e }) }()
	t.Cleanup(func() { // before the registry and loader close
		cancel()
		<-watching
	})
	// Installing writes two files, which may arrive as one reload or two; wait for the
	// event that brings the expected state rather than for a count of events.
	until := func(what string, ok func(Event) bool) Event {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case e := <-events:
				if ok(e) {
					return e
				}
			case <-timeout:
				t.Fatalf("no reload event brought %s", what)
			}
		}
	}
	servingNow := func() string {
		d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "ok", Request: []byte(`{}`)})
		if !d.Allow {
			return "deny: " + d.Reason
		}
		return d.Reason
	}
	serving := func(want string) func(Event) bool {
		return func(Event) bool { return servingNow() == want }
	}
	if got := servingNow(); got != "v1" {
		t.Fatalf("serving %q", got)
	}
	plugintest.Install(t, dir, "guard", probeBuild(t, "v2", ""), probeManifest("guard", protocol.KindIPC, 100))
	until("v2", serving("v2"))

	if err := plugintest.WriteAtomic(filepath.Join(dir, "guard.wasm"), []byte("garbage, not wasm")); err != nil {
		t.Fatal(err)
	}
	until("a refused garbage module", func(e Event) bool { return e.Err != nil })
	if got := servingNow(); got != "v2" {
		t.Fatalf("after garbage: serving %q, want v2", got)
	}
	logs.waitFor(t, "previous version keeps serving")

	plugintest.Install(t, dir, "guard", probeBuild(t, "v3", ""), probeManifest("guard", protocol.KindIPC, 100))
	until("v3", serving("v3"))
	if err := plugintest.WriteAtomic(filepath.Join(dir, "guard.json"), []byte(`{"name":"guard","kind":"ipc","abi":1,"limits":{"memoryMB":1}}`)); err != nil {
		t.Fatal(err)
	}
	e := until("a refused manifest", func(e Event) bool { return e.Err != nil })
	if !strings.Contains(e.Err.Error(), "memoryMB") {
		t.Fatalf("bad manifest error %v does not name the field", e.Err)
	}
	if got := servingNow(); got != "v3" {
		t.Fatalf("after a bad manifest: serving %q, want v3", got)
	}

	if err := os.Remove(filepath.Join(dir, "guard.wasm")); err != nil {
		t.Fatal(err)
	}
	until("a removal", func(e Event) bool { return e.Removed })
	if got := servingNow(); got != "v3" { // a security plugin is never dropped by deleting its file
		t.Fatalf("after removal: serving %q, want v3", got)
	}
	logs.waitFor(t, "last good version keeps serving")

	route := func() string { return r.DecideRoute(ctx, &protocol.RouteRequest{}).Action }
	plugintest.Install(t, dir, "router", probeBuild(t, "r1", ""), probeManifest("router", protocol.KindRoute, 100))
	until("the route plugin", func(Event) bool { return route() == protocol.ActionDeliver })
	_ = os.Remove(filepath.Join(dir, "router.wasm"))
	until("the route plugin's removal", func(e Event) bool { return e.Removed && e.Stem == "router" })
	if got := route(); got != protocol.ActionNone {
		t.Fatalf("a removed route plugin must leave its chain; route = %q", got)
	}
}

// TestReloadUnderLoad swaps generations while goroutines decide without pause: no decision
// may fail because of a swap.
func TestReloadUnderLoad(t *testing.T) {
	r, dir, _ := newTestRegistry(t)
	ctx := context.Background()
	builds := []string{probeBuild(t, "v1", ""), probeBuild(t, "v2", "")}
	// What is tested is the swap: a deadline or a wait for a free instance that a loaded
	// machine (2 cores, the race detector, other packages' tests) stretches past 200 ms is
	// not, so the deadline is the longest a manifest may ask and every goroutine has its own
	// instance.
	manifest := probeManifest("guard", protocol.KindIPC, 100)
	manifest["limits"] = map[string]any{"deadlineMs": MaxDeadline.Milliseconds(), "instances": 4}
	plugintest.Install(t, dir, "guard", builds[0], manifest)
	if err := r.LoadFile(ctx, filepath.Join(dir, "guard.wasm")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, failures atomic.Int64
	var firstFailure atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "ok", Request: []byte(`{}`)})
				calls.Add(1)
				if !d.Allow {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, d.Reason)
				}
			}
		}()
	}
	for i := range 6 {
		plugintest.Install(t, dir, "guard", builds[(i+1)%2], manifest)
		if err := r.LoadFile(ctx, filepath.Join(dir, "guard.wasm")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d decisions failed during reloads; first: %v", failures.Load(), calls.Load(), firstFailure.Load())
	}
	t.Logf("%d decisions across 6 reloads, 0 failures", calls.Load())
}

// TestVerdictDuplicateAllowDenies is the attack {"allow":false,"allow":true}, which the
// chains took for an allow: a security verdict that repeats a key or carries an unknown field
// is a deny whose reason names the problem; a route verdict that repeats a key is no
// decision, and the next router decides.
func TestVerdictDuplicateAllowDenies(t *testing.T) {
	r, dir, _ := newTestRegistry(t)
	ctx := context.Background()
	for _, s := range []struct {
		stem  string
		kind  protocol.Kind
		order int
	}{{"mount-a", protocol.KindMount, 10}, {"ipc-a", protocol.KindIPC, 10}, {"route-early", protocol.KindRoute, 10}} {
		plugintest.Install(t, dir, s.stem, probeBuild(t, s.stem, ""), probeManifest(s.stem, s.kind, s.order))
		if err := r.LoadFile(ctx, filepath.Join(dir, s.stem+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	plugintest.Install(t, dir, "route-late", probeBuild(t, "route-late", "ok"), probeManifest("route-late", protocol.KindRoute, 1000))
	if err := r.LoadFile(ctx, filepath.Join(dir, "route-late.wasm")); err != nil {
		t.Fatal(err)
	}
	verdict := func(v string) string { return "verdict:" + v }
	cases := []struct {
		name, verdict, want string
	}{
		{"repeated allow", `{"allow":false,"allow":true,"hostPath":"/h","containerPath":"/workspace/extra/h"}`, `repeats the key \"allow\"`},
		{"repeated allow, escaped", `{"allow":false,"\u0061llow":true,"hostPath":"/h","containerPath":"/workspace/extra/h"}`, `repeats the key \"allow\"`},
		{"unknown field", `{"allow":true,"hostPath":"/h","containerPath":"/workspace/extra/h","scope":"all"}`, `unknown field \"scope\"`},
	}
	for _, c := range cases {
		t.Run("mount "+c.name, func(t *testing.T) {
			d := r.DecideMount(ctx, &protocol.MountRequest{Group: verdict(c.verdict)})
			if d.Allow || d.DecidedBy != "mount-a" || !strings.Contains(strconvQuote(d.Reason), c.want) {
				t.Fatalf("decision %+v, want a deny by mount-a naming %s", d, c.want)
			}
		})
	}
	for _, c := range []struct{ name, verdict, want string }{
		{"repeated allow", `{"allow":false,"allow":true}`, `repeats the key \"allow\"`},
		{"unknown field", `{"allow":true,"until":"never"}`, `unknown field \"until\"`},
	} {
		t.Run("ipc "+c.name, func(t *testing.T) {
			d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: verdict(c.verdict), Request: []byte(`{}`)})
			if d.Allow || d.DecidedBy != "ipc-a" || !strings.Contains(strconvQuote(d.Reason), c.want) {
				t.Fatalf("decision %+v, want a deny by ipc-a naming %s", d, c.want)
			}
		})
	}
	t.Run("route repeated action", func(t *testing.T) {
		d := r.DecideRoute(ctx, &protocol.RouteRequest{Message: protocol.Message{Content: verdict(`{"action":"ignore","action":"deliver","group":"main"}`)}})
		if d.DecidedBy != "route-late" {
			t.Fatalf("decision %+v, want the next router's", d)
		}
	})
}

// strconvQuote shows a reason as Go would quote it, so expectations can spell quotes as \".
func strconvQuote(s string) string { return strconv.Quote(s) }

// TestPluginNameSpoof is the attack of a route plugin named "ipcauthz" loaded beside the
// real one, sharing its key-value state and deciding under its name. A plugin whose name is
// taken is refused, with a log line, whichever order the files are found in: at startup a
// file named after its plugin wins over one borrowing the name, later the newcomer loses.
func TestPluginNameSpoof(t *testing.T) {
	cases := []struct {
		name      string
		spoofStem string // sorts before or after the real file
		hot       bool   // the spoof is dropped in after the real plugin serves
	}{
		{"startup, spoof sorts first", "aaa-spoof", false},
		{"startup, spoof sorts last", "zzz-spoof", false},
		{"dropped in while serving", "aaa-spoof", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, dir, logs := newTestRegistry(t)
			ctx := context.Background()
			plugintest.Install(t, dir, "ipcauthz", probeBuild(t, "ipc-a", ""), probeManifest("ipcauthz", protocol.KindIPC, 100))
			spoof := func() {
				plugintest.Install(t, dir, c.spoofStem, probeBuild(t, "route-early", ""), probeManifest("ipcauthz", protocol.KindRoute, 10))
			}
			if !c.hot {
				spoof()
			}
			err := r.LoadDir(ctx, dir)
			if c.hot {
				if err != nil {
					t.Fatal(err)
				}
				spoof()
				err = r.LoadFile(ctx, filepath.Join(dir, c.spoofStem+".wasm"))
			}
			if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), c.spoofStem) && !strings.Contains(err.Error(), "ipcauthz (route)") {
				t.Fatalf("load error %v, want the spoof refused for its name", err)
			}
			logs.waitFor(t, "another plugin already has its name")
			if list := r.List(); len(list) != 1 || list[0].Kind != protocol.KindIPC || list[0].Name != "ipcauthz" {
				t.Fatalf("serving %+v, want only the real ipcauthz", list)
			}
			if d := r.DecideRoute(ctx, &protocol.RouteRequest{}); d.DecidedBy != "" {
				t.Fatalf("the spoof decided a route: %+v", d)
			}
			if d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "ok", Request: []byte(`{}`)}); !d.Allow || d.DecidedBy != "ipcauthz" {
				t.Fatalf("ipc decision %+v", d)
			}
		})
	}
}

// TestRefusedNameLoadsWhenFreed: a plugin refused for its name loads once the plugin that
// had the name is removed; reloading the holder's own file is never a clash.
func TestRefusedNameLoadsWhenFreed(t *testing.T) {
	r, dir, _ := newTestRegistry(t)
	ctx := context.Background()
	plugintest.Install(t, dir, "first", probeBuild(t, "route-early", ""), probeManifest("shared", protocol.KindRoute, 10))
	if err := r.LoadFile(ctx, filepath.Join(dir, "first.wasm")); err != nil {
		t.Fatal(err)
	}
	plugintest.Install(t, dir, "first", probeBuild(t, "route-late", "ok"), probeManifest("shared", protocol.KindRoute, 10))
	if err := r.LoadFile(ctx, filepath.Join(dir, "first.wasm")); err != nil {
		t.Fatalf("a reload of the same file clashed with itself: %v", err)
	}
	plugintest.Install(t, dir, "second", probeBuild(t, "route-early", ""), probeManifest("shared", protocol.KindRoute, 20))
	if err := r.LoadFile(ctx, filepath.Join(dir, "second.wasm")); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second plugin named shared: %v", err)
	}
	if r.Plugin("second") != nil {
		t.Fatal("the refused plugin serves")
	}
	if err := os.Remove(filepath.Join(dir, "first.wasm")); err != nil {
		t.Fatal(err)
	}
	r.Remove("first")
	if p := r.Plugin("second"); p == nil || p.Name() != "shared" {
		t.Fatalf("after the holder left, the refused plugin is %v", p)
	}
}

// TestKVKeyedByNameAndKind: two plugins with one name but different kinds (the loader
// alone allows it) never see each other's key-value state.
func TestKVKeyedByNameAndKind(t *testing.T) {
	l, _ := newTestLoader(t, Services{})
	l.grants = Grants{protocol.KindIPC: abi.Capabilities(), protocol.KindRoute: abi.Capabilities()}
	var ps []*Plugin
	for _, k := range []protocol.Kind{protocol.KindIPC, protocol.KindRoute} {
		p, err := l.Load(context.Background(), testManifest("probe", k, abi.Capabilities()...), probeWasm(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(context.Background()) })
		ps = append(ps, p)
	}
	for i, want := range []string{`"reason":"x"`, `"reason":"xx"`} {
		if out, f := call(t, ps[0], `{"mode":"kv"}`); f != nil || !strings.Contains(out, want) {
			t.Fatalf("ipc plugin's kv call %d: %s %v", i, out, f)
		}
	}
	if out, f := call(t, ps[1], `{"mode":"kv"}`); f != nil || !strings.Contains(out, `"reason":"x"`) {
		t.Fatalf("the route plugin of the same name saw the ipc plugin's state: %s %v", out, f)
	}
}

// TestRouteDeliverElsewhereNeedsGrant is the attack of a dropped-in route plugin answering
// {"action":"deliver","group":"main"}, which fed another chat's messages into main's agent.
// Delivering to a group other than the chat's own needs that group in the manifest's
// deliverTo, "*" covers every group but main, and a refused verdict leaves the decision to
// the next router, with a log line saying why.
func TestRouteDeliverElsewhereNeedsGrant(t *testing.T) {
	family := testGroups[1]
	cases := []struct {
		name      string
		deliverTo []string
		chat      *protocol.Group // nil: an unregistered chat
		target    string
		granted   bool
	}{
		{"no grant, into main", nil, &family, "main", false},
		{"star does not cover main", []string{"*"}, &family, "main", false},
		{"another folder does not cover main", []string{"work"}, &family, "main", false},
		{"main named", []string{"main"}, &family, "main", true},
		{"star covers another group", []string{"*"}, &family, "work", true},
		{"named group", []string{"work"}, &family, "work", true},
		{"no grant, into another group", nil, &family, "work", false},
		{"own group needs nothing", nil, &family, "family", true},
		{"unregistered chat, no grant", nil, nil, "family", false},
		{"unregistered chat, star", []string{"*"}, nil, "family", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, dir, logs := newTestRegistry(t)
			ctx := context.Background()
			m := probeManifest("dropped", protocol.KindRoute, 10)
			m["deliverTo"] = c.deliverTo
			plugintest.Install(t, dir, "dropped", probeBuild(t, "route-early", ""), m)
			plugintest.Install(t, dir, "router", probeBuild(t, "route-late", "ok"), probeManifest("router", protocol.KindRoute, 1000))
			if err := r.LoadDir(ctx, dir); err != nil {
				t.Fatal(err)
			}
			req := &protocol.RouteRequest{Group: c.chat, Message: protocol.Message{
				Content: `verdict:{"action":"deliver","group":"` + c.target + `"}`}}
			d := r.DecideRoute(ctx, req)
			if c.granted {
				if d.DecidedBy != "dropped" || d.Action != protocol.ActionDeliver || d.Group != c.target {
					t.Fatalf("granted delivery: %+v", d)
				}
				return
			}
			if d.DecidedBy != "router" {
				t.Fatalf("refused delivery decided %+v, want the next router to decide", d)
			}
			logs.waitFor(t, "route verdict refused")
		})
	}
}

// TestDeliveryGrantListed: plugin list shows what a route plugin may deliver to.
func TestDeliveryGrantListed(t *testing.T) {
	r, dir, _ := newTestRegistry(t)
	m := probeManifest("dropped", protocol.KindRoute, 10)
	m["deliverTo"] = []string{"*", "main"}
	plugintest.Install(t, dir, "dropped", probeBuild(t, "route-early", ""), m)
	if err := r.LoadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if l := r.List(); len(l) != 1 || strings.Join(l[0].DeliverTo, ",") != "*,main" {
		t.Fatalf("list %+v", l)
	}
}

// TestConfigProblemRecorded: a plugin reports its configuration document invalid through
// config_problem; the registry lists it (with the file, when the config source knows it)
// until the plugin clears it or leaves, and the host logs the change. A plugin without a
// document has nothing to report on.
func TestConfigProblemRecorded(t *testing.T) {
	r, dir, logs := newTestRegistry(t)
	ctx := context.Background()
	m := probeManifest("router", protocol.KindRoute, 10)
	m["config"] = "sender-allowlist"
	plugintest.Install(t, dir, "router", probeBuild(t, "route-early", ""), m)
	plugintest.Install(t, dir, "noconfig", probeBuild(t, "ipc-a", ""), probeManifest("noconfig", protocol.KindIPC, 10))
	if err := r.LoadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	report := func(msg string) {
		t.Helper()
		d := r.DecideRoute(ctx, &protocol.RouteRequest{Message: protocol.Message{Content: "problem:" + msg}})
		if d.DecidedBy != "router" {
			t.Fatalf("report %q: %+v", msg, d)
		}
	}
	report("not JSON at offset 3; no sender may trigger")
	ps := r.Problems()
	if len(ps) != 1 || ps[0].Document != "sender-allowlist" || ps[0].Plugin != "router" || ps[0].Kind != protocol.KindRoute ||
		ps[0].Problem != "not JSON at offset 3; no sender may trigger" || ps[0].Since.IsZero() {
		t.Fatalf("problems %+v", ps)
	}
	logs.waitFor(t, "policy document is invalid")
	since := ps[0].Since
	report("not JSON at offset 3; no sender may trigger")
	if ps := r.Problems(); len(ps) != 1 || !ps[0].Since.Equal(since) {
		t.Fatalf("a repeated report changed the record: %+v", ps)
	}
	report("")
	if ps := r.Problems(); len(ps) != 0 {
		t.Fatalf("after clearing: %+v", ps)
	}
	logs.waitFor(t, "policy document is usable again")
	report("broken again")
	r.Remove("router")
	if ps := r.Problems(); len(ps) != 0 {
		t.Fatalf("after the plugin left: %+v", ps)
	}
	if d := r.DecideIPC(ctx, &protocol.IPCRequest{Group: "problem:x", Request: []byte(`{}`)}); d.Allow || !strings.Contains(d.Reason, "not found") {
		t.Fatalf("a plugin without a document reported a problem: %+v", d)
	}
}
