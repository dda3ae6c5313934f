package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
	"github.com/nanoclaw/nanoclaw-go/host/credproxy"
	"github.com/nanoclaw/nanoclaw-go/host/daemon"
	"github.com/nanoclaw/nanoclaw-go/host/status"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestStatusShowsAPIUsageAfterRestart: `nanoclaw status` showed tokens kept in memory, so
// a restart zeroed them. It now shows each group's day from the store: input, cache read,
// cache write, output, requests and refusals, the same before and after a restart, in the
// table and in --json.
func TestStatusShowsAPIUsageAfterRestart(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config")}
	paths, err := config.PathsFromEnv(work, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := privateDir(paths.Data); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(storeDir(paths), "nanoclaw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, g := range []store.Group{{JID: "local:main", Name: "Main", Folder: "main", IsMain: true}, {JID: "local:family", Name: "Family", Folder: "family"}} {
		if err := st.SetRegisteredGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	groups := daemon.NewGroups()
	if err := groups.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"message","usage":{"input_tokens":11,"cache_read_input_tokens":22,"cache_creation_input_tokens":33,"output_tokens":44}}`)
	}))
	defer upstream.Close()
	up, _ := url.Parse(upstream.URL)
	cfg := credproxy.Config{Upstream: up, APIKey: "k", Store: st, MaxTokensPerDay: 1000000, Location: time.UTC}

	proxy, err := credproxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/v1/messages", "/v1/messages", "/v1/files"} {
		rec := httptest.NewRecorder()
		proxy.Handler("main").ServeHTTP(rec, httptest.NewRequest("POST", target, strings.NewReader(`{"max_tokens":100}`)))
	}
	before := proxy.Usage("main")
	if err := proxy.Close(); err != nil { // the host stops
		t.Fatal(err)
	}

	{
		const when = "after a restart"
		restarted, err := credproxy.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer restarted.Close()
		ctl := control.NewServer(paths.ControlSocket)
		ctl.HandleJSON("/status", func() any {
			var s daemon.Status
			for _, g := range groups.All() {
				s.Groups = append(s.Groups, daemon.GroupStatus{JID: g.JID, Folder: g.Folder, IsMain: g.IsMain})
			}
			return status.Build(status.Input{Started: time.Now(), Now: time.Now(), Daemon: s, Usage: restarted.Usage})
		})
		if err := ctl.Listen(); err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- ctl.Serve(sctx) }()

		out, code := cli(t, work, vars, "status")
		if code != 0 {
			t.Fatalf("%s: status exited %d:\n%s", when, code, out)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		if !strings.Contains(out, "MODEL API TODAY ("+today+")") ||
			!regexp.MustCompile(`(?m)^family\s+0\s+0\s+0\s+0\s+0\s+1000000\s+0\s+0\s*$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^main\s+22\s+44\s+66\s+88\s+220\s+1000000\s+2\s+1\s*$`).MatchString(out) {
			t.Errorf("%s: status does not show today's usage:\n%s", when, out)
		}
		out, code = cli(t, work, vars, "status", "--json")
		var doc status.Doc
		if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil {
			t.Fatalf("%s: status --json (%d, %v):\n%s", when, code, err, out)
		}
		usage := map[string]credproxy.Usage{}
		for _, g := range doc.Groups {
			usage[g.Folder] = g.UsageToday
		}
		want := credproxy.Usage{Day: today, Tokens: credproxy.Tokens{Input: 22, CacheRead: 44, CacheWrite: 66, Output: 88},
			TotalTokens: 220, Requests: 2, Refusals: 1, Budget: 1000000}
		if got := usage["main"]; got != want || before != want {
			t.Errorf("%s: --json main %+v, before the restart %+v; want %+v", when, got, before, want)
		}
		for _, k := range []string{`"inputTokens": 22`, `"cacheReadTokens": 44`, `"cacheWriteTokens": 66`, `"outputTokens": 88`, `"requests": 2`, `"refusals": 1`} {
			if !strings.Contains(out, k) {
				t.Errorf("%s: --json lacks %s", when, k)
			}
		}
		stop()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	}
}

// TestProxyStateDirsArePrivate: the directories the host keeps its state in (data/ with
// the agent sockets, store/ with the database the proxy writes usage to) are 0700 even
// when an older install left them open.
func TestProxyStateDirsArePrivate(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name    string
		prepare func(dir string) error
	}{
		{"missing", func(string) error { return nil }},
		{"left 0755", func(dir string) error { return os.Mkdir(dir, 0o755) }},
		{"left 0777", func(dir string) error {
			if err := os.Mkdir(dir, 0o777); err != nil {
				return err
			}
			return os.Chmod(dir, 0o777)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(root, strings.ReplaceAll(tt.name, " ", "-"), "store")
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.prepare(dir); err != nil {
				t.Fatal(err)
			}
			if err := privateDir(dir); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("mode %v, %v; want 0700", fi.Mode().Perm(), err)
			}
		})
	}
}
