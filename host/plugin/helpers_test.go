package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// logSink collects log lines so tests can assert on what the host said.
type logSink struct {
	mu    sync.Mutex
	lines []string
	seen  chan struct{}
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.lines = append(s.lines, string(p))
	s.mu.Unlock()
	select {
	case s.seen <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *logSink) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// waitFor waits until the log holds sub, failing after a deadline.
func (s *logSink) waitFor(t *testing.T, sub string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !s.contains(sub) {
		select {
		case <-s.seen:
		case <-deadline:
			t.Fatalf("log never said %q; it said:\n%s", sub, strings.Join(s.lines, ""))
		}
	}
}

func testLogger() (hclog.Logger, *logSink) {
	sink := &logSink{seen: make(chan struct{}, 1)}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: sink, Level: hclog.Debug}), sink
}

var testGroups = StaticGroups{
	{JID: "main@g.us", Folder: "main", Name: "Main", IsMain: true},
	{JID: "family@g.us", Folder: "family", Name: "Family", Trigger: "@Andy", RequiresTrigger: true},
}

func newTestLoader(t testing.TB, svc Services) (*Loader, *logSink) {
	t.Helper()
	log, sink := testLogger()
	if svc.Groups == nil {
		svc.Groups = testGroups
	}
	l, err := NewLoader(LoaderConfig{CacheDir: plugintest.CacheDir(), Services: svc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l, sink
}

func testManifest(name string, kind protocol.Kind, caps ...string) *Manifest {
	m := &Manifest{Name: name, Kind: kind, ABI: abi.Version, Capabilities: caps, Order: 100}
	m.Limits = Limits{DeadlineMs: 100, Instances: 2}.withDefaults()
	return m
}

func probeWasm(t testing.TB) []byte {
	return readWasm(t, plugintest.BuildGo(t, "./testdata/guests/probe", ""))
}

func watWasm(t testing.TB, name string) []byte {
	return readWasm(t, plugintest.BuildWAT(t, filepath.Join("testdata", "wat", name+".wat")))
}

func readWasm(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadProbe loads the probe guest as a plugin of kind. The probe imports every host
// function, so it is granted every capability.
func loadProbe(t testing.TB, l *Loader, kind protocol.Kind) *Plugin {
	t.Helper()
	l.grants = Grants{kind: abi.Capabilities()}
	p, err := l.Load(context.Background(), testManifest("probe", kind, abi.Capabilities()...), probeWasm(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func call(t testing.TB, p *Plugin, req string) (string, *Fault) {
	t.Helper()
	out, err := p.Call(context.Background(), []byte(req), nil)
	if err != nil {
		var f *Fault
		if !errors.As(err, &f) {
			t.Fatalf("call error is not a *Fault: %v", err)
		}
		return "", f
	}
	return string(out), nil
}
