package invariants

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/mountguard/mountpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/router/routepolicy"
)

// BenchmarkPlugins measures each default plugin's decision, through its wasm build in the
// plugin host (deadline enforcement on) and natively, on a typical request.
func BenchmarkPlugins(b *testing.B) {
	w := mountWorld(b)
	mountReq := protocol.MountRequest{Group: "family", HostPath: w.Home + "/linked/app/src", ContainerPath: "src", ReadOnly: true}
	ipcReq := protocol.IPCRequest{Group: "family", Dir: "tasks", Request: []byte(
		`{"type":"schedule_task","prompt":"Summarise the week's messages","schedule_type":"cron","schedule_value":"0 9 * * 1","targetJid":"family@g.us","context_mode":"group"}`)}
	g := Groups[1]
	routeReq := protocol.RouteRequest{Message: protocol.Message{ID: "3EB0C431C26A1D5A7F4E", ChatJID: g.JID, Sender: "447700900123@s.whatsapp.net",
		SenderName: "Alice", Content: "@Andy what's on the calendar for Saturday?", Timestamp: "2026-11-25T14:03:11Z"}, Group: &g, AssistantName: "Andy"}
	cases := []struct {
		name   string
		kind   protocol.Kind
		source string
		req    []byte
		native func()
	}{
		{"mountguard", protocol.KindMount, "mountguard", mountReq.AppendJSON(nil), func() { mountpolicy.New(nativeMountFacts{w}).Decide(&mountReq) }},
		{"ipcauthz", protocol.KindIPC, "ipcauthz", ipcReq.AppendJSON(nil), func() { ipcpolicy.New(stringGroups{}).Decide(&ipcReq) }},
		{"router", protocol.KindRoute, "router", routeReq.AppendJSON(nil), func() { routepolicy.New(routeFacts{}).Decide(&routeReq) }},
	}
	for _, c := range cases {
		b.Run(c.name+"/wasm", func(b *testing.B) {
			tg := load(b, c.kind, c.source)
			out := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = tg.p.Call(context.Background(), c.req, out[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/native", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.native()
			}
		})
	}
}

// BenchmarkHostRSS loads the three default plugins as the host does (a registry, warm pools
// of GOMAXPROCS instances) and reports the process's resident memory.
func BenchmarkHostRSS(b *testing.B) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for _, name := range []string{"mountguard", "ipcauthz", "router"} {
		m, err := os.ReadFile(filepath.Join(root, "plugins", name, "manifest.json"))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), m, 0o644); err != nil {
			b.Fatal(err)
		}
		wasm, err := os.ReadFile(plugintest.BuildGo(b, filepath.Join(root, "plugins", name), ""))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), wasm, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		runtime.GC()
		before := rssMiB(b)
		loader, err := plugin.NewLoader(plugin.LoaderConfig{CacheDir: plugintest.CacheDir()})
		if err != nil {
			b.Fatal(err)
		}
		reg := plugin.NewRegistry(loader, nil)
		if err := reg.LoadDir(context.Background(), dir); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.ReportMetric(rssMiB(b), "rss-MiB")
		b.ReportMetric(rssMiB(b)-before, "plugins-rss-MiB")
		reg.Close(context.Background())
		_ = loader.Close(context.Background())
	}
}

func rssMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
