package invariants

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/mountguard/mountpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/router/routepolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// The plugin under test: NANOCLAW_FUZZ_PLUGIN (any build, checked against its kind's
// invariants only) or, by default, the project's own plugin built from source (also checked
// verdict for verdict against its native build).
const (
	envPlugin = "NANOCLAW_FUZZ_PLUGIN"
	envKind   = "NANOCLAW_FUZZ_KIND"
)

type target struct {
	p      *plugin.Plugin
	native bool // compare with the native build
}

var (
	worldOnce sync.Once
	world     *MountWorld
	worldErr  error
)

func mountWorld(t testing.TB) *MountWorld {
	worldOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nanoclaw-mountworld-")
		if err != nil {
			worldErr = err
			return
		}
		world, worldErr = NewMountWorld(dir)
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return world
}

var (
	targetsMu sync.Mutex
	targets   = map[protocol.Kind]target{}
)

// load returns the plugin for kind, or skips when NANOCLAW_FUZZ_KIND names another kind. It
// loads once per process: a fuzz worker compiles (or loads from the cache) and instantiates
// the plugin once, then runs every input through the same warm pool.
func load(t testing.TB, kind protocol.Kind, source string) target {
	t.Helper()
	if k := os.Getenv(envKind); k != "" && protocol.Kind(k) != kind {
		t.Skipf("%s=%s", envKind, k)
	}
	targetsMu.Lock()
	defer targetsMu.Unlock()
	if tg, ok := targets[kind]; ok {
		return tg
	}
	tg := loadOnce(t, kind, source)
	targets[kind] = tg
	return tg
}

func loadOnce(t testing.TB, kind protocol.Kind, source string) target {
	w := mountWorld(t)
	cfg := &plugin.StaticConfig{}
	doc := w.Doc()
	cfg.Set("mount-allowlist", doc.AppendJSON(nil))
	// No breaker: a fuzzing process feeds the plugin thousands of inputs, and after a few
	// faulting ones (the minimizer replays variants of a failing input) a tripped breaker
	// would be reported as the fault of whatever input came next.
	loader, err := plugin.NewLoader(plugin.LoaderConfig{
		CacheDir:  plugintest.CacheDir(),
		Services:  plugin.Services{Paths: plugin.OSPaths{Home: w.Home}, Groups: plugin.StaticGroups(Groups), Config: cfg},
		NoBreaker: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	wasmPath, native := os.Getenv(envPlugin), false
	var m *plugin.Manifest
	if wasmPath == "" {
		root, err := plugintest.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		wasmPath = plugintest.BuildGo(t, filepath.Join(root, "plugins", source), "")
		m, err = plugin.ReadManifest(filepath.Join(root, "plugins", source, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		native = true
	} else if m, err = plugin.ReadManifest(plugin.ManifestPath(wasmPath)); err != nil {
		m, err = plugin.ParseManifest([]byte(`{"name":"fuzzed","kind":"` + string(kind) + `","abi":1,"capabilities":` +
			capsJSON(plugin.DefaultGrants()[kind]) + `,"config":"mount-allowlist"}`))
		if err != nil {
			t.Fatal(err)
		}
	}
	if m.Kind != kind {
		t.Fatalf("%s is a %s plugin, not %s", wasmPath, m.Kind, kind)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.Load(context.Background(), m, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return target{p: p, native: native} // lives as long as the test process

}

func capsJSON(caps []string) string {
	return `["` + strings.Join(caps, `","`) + `"]`
}

// call runs one decision and fails on any fault but an oversize request. A single timeout is
// retried once: under a loaded fuzzing machine a microsecond decision can be descheduled past
// its deadline, and that is the machine's doing; a plugin that loops times out again. A busy
// pool is waited out: after a trap the instance is being replaced, and that is the previous
// input's fault, not this one's.
func call(t *testing.T, p *plugin.Plugin, req []byte) ([]byte, bool) {
	var out []byte
	var err error
	var f *plugin.Fault
	for range 20 {
		out, err = p.Call(context.Background(), req, nil)
		if !errors.As(err, &f) || f.Kind != plugin.FaultBusy {
			break
		}
	}
	if errors.As(err, &f) && f.Kind == plugin.FaultTimeout {
		out, err = p.Call(context.Background(), req, nil)
	}
	if errors.As(err, &f) && f.Kind == plugin.FaultRequest {
		return nil, false
	}
	if err != nil {
		t.Fatalf("fault on a valid request (trap, deadline or malformed verdict): %v\nrequest: %s", err, req)
	}
	return out, true
}

// nativeMountFacts answers the native mount policy from the same world.
type nativeMountFacts struct{ w *MountWorld }

// Resolve reports errors as the path capability does, so reasons compare equal too.
func (n nativeMountFacts) Resolve(p string) (string, error) {
	real, err := plugin.OSPaths{Home: n.w.Home}.Resolve(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", hostcall.ErrNotFound
	case err != nil:
		return "", hostcall.ErrIO
	}
	return real, nil
}
func (n nativeMountFacts) Config() (protocol.ConfigDoc, int64, bool) {
	return n.w.Doc(), 1, true
}
func (n nativeMountFacts) Log(string) {}

func FuzzMount(f *testing.F) {
	for _, s := range []struct {
		host, container string
		main, rw, home  bool
	}{
		{"projects/app", "app", true, true, true},
		{"linked/app/src", "", false, true, true},
		{"projects/escape/data", "x", true, false, true},
		{"projects/keys", "k", true, false, true},
		{"projects/app/.ssh", "", true, false, true},
		{"projects/.AWS", "", true, false, true},
		{"projects/tokens", "", true, false, true},
		{"projects/cfg", "", true, false, true},
		{"projects/up/outside", "", true, false, true},
		{"projects/loop", "", true, false, true},
		{"shared/ro", "ro", true, true, true},
		{"projects/../outside/data", "", true, false, true},
		{"projects/app", "../../etc", true, false, true},
		{"projects/app", "/abs", true, false, true},
		{"projects/app", "a:/etc:rw", true, false, true},
		{"projects/app", "a\x00b", true, false, true},
		{"projects/app\x00/x", "", true, false, true},
		{"projects/аpp", "", true, false, true}, // Cyrillic а
		{"projects/nope", "", true, false, true},
		{"~/projects/app", "", true, true, false},
		{"/etc", "", true, false, false},
		{strings.Repeat("a/", 3000), "", true, false, true},
		{"projects/app/docs/ro", "docs", true, true, true},
		{"linked/app/docs", "", true, true, true},
		{"projects/nanoclaw", "", true, false, true},
		{"projects/nanoclaw/data/ipc/main", "", true, true, true},
		{"projects/nanoclaw/data/proxy", "", true, false, true},
		{"projects/nanoclaw/data/sessions/main", "", false, false, true},
		{"projects/nanoclaw/plugins", "", true, false, true},
		{"projects/nanoclaw/groups/main", "", true, true, true},
		{"projects/nanoclaw/bin", "", true, false, true},
		{"projects/nanoclaw/.git", "", true, false, true},
		{"linked/nanoclaw/store", "", true, false, true},
		{"projects", "", true, false, true},
		{"linked", "", true, false, true},
	} {
		f.Add(s.host, s.container, s.main, s.rw, s.home)
	}
	// Loaded before the fuzz function: a worker's first input must not pay the compile,
	// which on a loaded machine outran the 10 s Go's fuzzing allows one input.
	load(f, protocol.KindMount, "mountguard")
	f.Fuzz(func(t *testing.T, host, container string, isMain, rw, underHome bool) {
		tg := load(t, protocol.KindMount, "mountguard")
		w := mountWorld(t)
		if underHome {
			host = w.Home + "/" + host
		}
		req := protocol.MountRequest{Group: "family", IsMain: isMain, HostPath: host, ContainerPath: container, ReadOnly: !rw}
		out, ok := call(t, tg.p, req.AppendJSON(nil))
		if !ok {
			return
		}
		var v protocol.MountVerdict
		if err := v.UnmarshalJSON(out); err != nil {
			t.Fatalf("malformed verdict %s: %v", out, err)
		}
		if err := w.CheckMount(&req, &v); err != nil {
			t.Fatalf("invariant broken: %v\nrequest %+v\nverdict %+v", err, req, v)
		}
		if tg.native {
			// The native build sees the request as the plugin does: through the wire
			// encoding (which, for one, turns invalid UTF-8 into U+FFFD).
			var seen protocol.MountRequest
			if err := seen.UnmarshalJSON(req.AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
			nv := mountpolicy.New(nativeMountFacts{w}).Decide(&seen)
			if nv != v {
				t.Fatalf("wasm and native disagree\nwasm   %+v\nnative %+v", v, nv)
			}
		}
	})
}

func FuzzIPC(f *testing.F) {
	seeds := []string{
		`{"type":"message","chatJid":"family@g.us","text":"hi"}`,
		`{"type":"message","chatJid":"work@g.us","text":"hi","groupFolder":"work","isMain":true}`,
		`{"type":"schedule_task","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * 1-5","targetJid":"work@g.us"}`,
		`{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"60000","targetJid":"family@g.us"}`,
		`{"type":"schedule_task","prompt":"p","schedule_type":"once","schedule_value":"2030-01-01T10:00","targetJid":"family@g.us"}`,
		`{"type":"pause_task","taskId":"task-1-abc"}`,
		`{"type":"update_task","taskId":"t","schedule_value":"*/5 * * * *"}`,
		`{"type":"register_group","jid":"x@g.us","name":"X","folder":"x","trigger":"@Andy","isMain":true}`,
		`{"type":"refresh_groups"}`,
		`{"type":"available_groups"}`,
		`{"type":"list_tasks"}`,
		`{"type":"\u006dessage","chatJid":"work@g.us","text":"x"}`,
		`[1,2,3]`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), i%2 == 0, i%3 == 0, uint8(i), s)
	}
	folders := []string{"main", "family", "work", "", "../x", "global"}
	// Loaded before the fuzz function: a worker's first input must not pay the compile,
	// which on a loaded machine outran the 10 s Go's fuzzing allows one input.
	load(f, protocol.KindIPC, "ipcauthz")
	f.Fuzz(func(t *testing.T, gi uint8, isMain, messagesDir bool, ti uint8, body string) {
		tg := load(t, protocol.KindIPC, "ipcauthz")
		if v, err := wire.Parse([]byte(body)); err != nil || v.Kind != wire.Object {
			return // the host refuses these itself (Registry.DecideIPC) and never asks a plugin
		}
		group := folders[int(gi)%3]
		req := protocol.IPCRequest{Group: group, IsMain: isMain && group == "main", Dir: "tasks", TaskGroup: folders[int(ti)%len(folders)], Request: []byte(body)}
		if messagesDir {
			req.Dir = "messages"
		}
		out, ok := call(t, tg.p, req.AppendJSON(nil))
		if !ok {
			return
		}
		var v protocol.IPCVerdict
		if err := v.UnmarshalJSON(out); err != nil {
			t.Fatalf("malformed verdict %s: %v", out, err)
		}
		if err := CheckIPC(&req, &v); err != nil {
			t.Fatalf("invariant broken: %v\nrequest %s\nverdict %+v", err, req.AppendJSON(nil), v)
		}
		if tg.native {
			var seen protocol.IPCRequest
			if err := seen.UnmarshalJSON(req.AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
			nv := ipcpolicy.New(stringGroups{}).Decide(&seen)
			if nv != v {
				t.Fatalf("wasm and native disagree\nwasm   %+v\nnative %+v", v, nv)
			}
		}
	})
}

// stringGroups answers ipcpolicy's lookups from Groups.
type stringGroups struct{}

func (stringGroups) LookupGroup(jid string) (protocol.Group, bool) {
	return plugin.StaticGroups(Groups).LookupGroup([]byte(jid))
}

type routeFacts struct{}

func (routeFacts) Config() (protocol.ConfigDoc, bool) { return protocol.ConfigDoc{}, false }
func (routeFacts) Log(string)                         {}

func FuzzRoute(f *testing.F) {
	for i, c := range []string{"@Andy hello", "@andy's", "@Andyextra", "hello @Andy", "", "  @Andy  ", "@Andy\u00e9", "@ANDY!"} {
		f.Add(c, uint8(i), i%2 == 0, i%3 == 0, "447700900123@s.whatsapp.net")
	}
	// Loaded before the fuzz function: a worker's first input must not pay the compile,
	// which on a loaded machine outran the 10 s Go's fuzzing allows one input.
	load(f, protocol.KindRoute, "router")
	f.Fuzz(func(t *testing.T, content string, gi uint8, fromMe, bot bool, sender string) {
		tg := load(t, protocol.KindRoute, "router")
		req := protocol.RouteRequest{
			Message:       protocol.Message{ID: "m1", ChatJID: "unknown@g.us", Sender: sender, Content: content, IsFromMe: fromMe, IsBotMessage: bot},
			AssistantName: "Andy",
		}
		if int(gi)%4 < len(Groups) {
			g := Groups[int(gi)%4]
			req.Group, req.Message.ChatJID = &g, g.JID
		}
		out, ok := call(t, tg.p, req.AppendJSON(nil))
		if !ok {
			return
		}
		var v protocol.RouteVerdict
		if err := v.UnmarshalJSON(out); err != nil {
			t.Fatalf("malformed verdict %s: %v", out, err)
		}
		check := CheckRoute
		if tg.native {
			check = CheckDefaultRoute
		}
		if err := check(&req, &v); err != nil {
			t.Fatalf("invariant broken: %v\nrequest %s\nverdict %+v", err, req.AppendJSON(nil), v)
		}
		if err := CheckDelivery(tg.p.Manifest.DeliverTo, &req, &v); err != nil {
			t.Fatalf("invariant broken: %v\nrequest %s\nverdict %+v", err, req.AppendJSON(nil), v)
		}
		if tg.native {
			var seen protocol.RouteRequest
			if err := seen.UnmarshalJSON(req.AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
			nv := routepolicy.New(routeFacts{}).Decide(&seen)
			if nv != v {
				t.Fatalf("wasm and native disagree\nwasm   %+v\nnative %+v", v, nv)
			}
		}
	})
}
