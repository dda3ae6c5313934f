package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// idleLoader is a loader whose plugins release their engine after idle; each release is
// signalled on the returned channel.
func idleLoader(t *testing.T, cacheDir string, idle time.Duration) (*Loader, <-chan struct{}) {
	t.Helper()
	log, _ := testLogger()
	released := make(chan struct{}, 64)
	l, err := NewLoader(LoaderConfig{CacheDir: cacheDir, Services: Services{Groups: testGroups}, Logger: log,
		IdleRelease: idle, Released: func() { released <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l, released
}

func waitReleased(t *testing.T, released <-chan struct{}) {
	t.Helper()
	select {
	case <-released:
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin was not released while idle")
	}
}

const allowMount = `{"group":"main","hostPath":"/tmp","containerPath":"tmp","readOnly":true}`

// TestIdleRelease: an unused plugin releases its engine, and its next call starts it again
// and is answered; a Go guest does the same.
func TestIdleRelease(t *testing.T) {
	cases := []struct {
		name string
		load func(*testing.T, *Loader) *Plugin
		req  string
		want string
	}{
		{"wat guest", func(t *testing.T, l *Loader) *Plugin {
			p, err := l.Load(context.Background(), testManifest("allow", protocol.KindMount), watWasm(t, "allow"))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}, allowMount, `"allow":true`},
		{"go guest", func(t *testing.T, l *Loader) *Plugin { return loadProbe(t, l, protocol.KindRoute) }, `{"mode":"ok"}`, "deliver"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, released := idleLoader(t, cacheFor(t, c.name), 20*time.Millisecond)
			p := c.load(t, l)
			defer p.Close(context.Background())
			for round := range 3 {
				waitReleased(t, released)
				if !p.Idle() {
					t.Fatalf("round %d: released but not idle", round)
				}
				if round == 0 {
					r := NewRegistry(l, nil)
					r.plugins["x"] = p
					r.rebuild()
					if list := r.List(); len(list) != 1 || !list[0].Idle {
						t.Fatalf("List = %+v, want the plugin idle", list)
					}
				}
				out, f := call(t, p, c.req)
				if f != nil || !strings.Contains(out, c.want) {
					t.Fatalf("round %d: call after release = %q, %v", round, out, f)
				}
				if p.Idle() {
					t.Fatalf("round %d: still idle after a call", round)
				}
			}
		})
	}
}

// cacheFor gives the Go guest the shared cache (compiling it takes seconds) and the small
// guest a private one.
func cacheFor(t *testing.T, name string) string {
	if strings.Contains(name, "go") {
		return plugintest.CacheDir()
	}
	return t.TempDir()
}

// TestIdleResumeFails: a plugin whose kept module was damaged while it was idle fails its
// calls (deny), counted toward its breaker, and serves again once the module is back.
func TestIdleResumeFails(t *testing.T) {
	dir := t.TempDir()
	l, released := idleLoader(t, dir, 10*time.Millisecond)
	p, err := l.Load(context.Background(), testManifest("allow", protocol.KindMount), watWasm(t, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	kept, _ := filepath.Glob(filepath.Join(dir, "modules", "*.wasm"))
	if len(kept) != 1 {
		t.Fatalf("kept modules: %v", kept)
	}
	good, err := os.ReadFile(kept[0])
	if err != nil {
		t.Fatal(err)
	}
	waitReleased(t, released)
	for _, damage := range []func() error{
		func() error { return os.WriteFile(kept[0], append(good[:len(good)-1:len(good)-1], 0), 0o600) },
		func() error { return os.Remove(kept[0]) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		if _, f := call(t, p, allowMount); f == nil || f.Kind != FaultResume {
			t.Fatalf("call with a damaged kept module: fault %v, want %s", f, FaultResume)
		}
	}
	if err := os.WriteFile(kept[0], good, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, f := call(t, p, allowMount); f != nil || !strings.Contains(out, `"allow":true`) {
		t.Fatalf("call after repair = %q, %v", out, f)
	}
}

// TestIdleReleaseUnderLoad: bursts of concurrent calls, each started on a released plugin,
// all succeed; none races a release.
func TestIdleReleaseUnderLoad(t *testing.T) {
	l, released := idleLoader(t, t.TempDir(), 5*time.Millisecond)
	p, err := l.Load(context.Background(), testManifest("allow", protocol.KindMount), watWasm(t, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for burst := range 5 {
		waitReleased(t, released)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for range 25 {
					if out, err := p.Call(context.Background(), []byte(allowMount), nil); err != nil || !strings.Contains(string(out), `"allow":true`) {
						errs <- errors.Join(err, errors.New(string(out)))
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("burst %d: %v", burst, err)
		}
	}
}

// TestNoIdleRelease: without IdleRelease, or without a cache directory to keep the module
// in, a plugin never arms its release.
func TestNoIdleRelease(t *testing.T) {
	cases := []struct {
		name  string
		cache string
		idle  time.Duration
	}{
		{"no idle release", t.TempDir(), 0},
		{"no cache directory", "", time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, _ := idleLoader(t, c.cache, c.idle)
			p, err := l.Load(context.Background(), testManifest("allow", protocol.KindMount), watWasm(t, "allow"))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			if p.idleTimer.Load() != nil || p.restart != nil {
				t.Fatal("idle release armed")
			}
		})
	}
}

// TestRetireWhileIdle: a released plugin retires cleanly and refuses calls afterwards.
func TestRetireWhileIdle(t *testing.T) {
	l, released := idleLoader(t, t.TempDir(), time.Millisecond)
	p, err := l.Load(context.Background(), testManifest("allow", protocol.KindMount), watWasm(t, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	waitReleased(t, released)
	p.Close(context.Background())
	if _, err := p.Call(context.Background(), []byte(allowMount), nil); !errors.Is(err, errRetired) {
		t.Fatalf("call after retire: %v, want errRetired", err)
	}
	if p.Idle() {
		t.Fatal("a retired plugin reports idle")
	}
}

// TestIdleReleaseWaitsWhileBusy: while the host reports work in flight, an unused plugin
// keeps its engine; once the work is done it is released.
func TestIdleReleaseWaitsWhileBusy(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	asked := make(chan struct{}, 64)
	log, _ := testLogger()
	released := make(chan struct{}, 8)
	l, err := NewLoader(LoaderConfig{CacheDir: t.TempDir(), Services: Services{Groups: testGroups}, Logger: log,
		IdleRelease: 5 * time.Millisecond, Released: func() { released <- struct{}{} },
		Busy: func() bool { asked <- struct{}{}; return busy.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	p, err := l.Load(context.Background(), testManifest("allow", protocol.KindMount), watWasm(t, "allow"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for range 3 { // asked three times, refused each time
		select {
		case <-asked:
		case <-time.After(30 * time.Second):
			t.Fatal("the idle timer never asked whether the host is busy")
		}
	}
	if p.Idle() || len(released) > 0 {
		t.Fatal("released while the host was busy")
	}
	busy.Store(false)
	waitReleased(t, released)
}
