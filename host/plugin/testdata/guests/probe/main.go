// Command probe is the test guest of the plugin host: one module for every kind whose
// behaviour is picked by the request, so tests can make it allow, loop, hog memory, panic,
// exit, print, or answer out of bounds.
package main

import (
	"os"
	"strings"
	"time"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// version is set with -ldflags "-X main.version=..." to build distinguishable generations.
var version = "v1"

// forced, when set with -ldflags "-X main.forced=...", overrides the mode of every request.
var forced = ""

// atInit, when set with -ldflags "-X main.atInit=config", reads the config document while
// the instance initialises (from _initialize, before any call).
var atInit = ""

//go:wasmimport wasi_snapshot_preview1 sched_yield
func schedYield() int32

var sink [][]byte

func mode(in []byte) string {
	if forced != "" {
		return forced
	}
	v, err := wire.Parse(in)
	if err != nil {
		return ""
	}
	for _, k := range []string{"mode", "group"} {
		if s, ok := v.Field(k).Str(); ok && s != "" {
			return s
		}
	}
	if s, ok := v.Field("message").Field("content").Str(); ok {
		return s
	}
	return ""
}

// handle answers one call of hook with that kind's verdict.
func handle(hook abi.Hook, in, out []byte) ([]byte, error) {
	m := mode(in)
	arg := ""
	if i := strings.IndexByte(m, ':'); i >= 0 {
		m, arg = m[:i], m[i+1:]
	}
	reason := version
	switch m {
	case "loop":
		for {
			if len(sink) < 0 {
				break
			}
		}
	case "hog":
		for {
			sink = append(sink, make([]byte, 8<<20))
		}
	case "panic":
		panic("probe panics on purpose")
	case "exit":
		os.Exit(3)
	case "big":
		return append(out, make([]byte, sdk.BufferSize+1)...), nil
	case "oversize":
		w := wire.NewWriter(out)
		w.Bool("allow", true)
		w.String("reason", strings.Repeat("x", 20<<10))
		return w.End(), nil
	case "garbage":
		return append(out, "not json"...), nil
	case "deny":
		w := wire.NewWriter(out)
		if hook == abi.HookRoute {
			w.String("action", "ignore")
		} else {
			w.Bool("allow", false)
		}
		w.String("reason", "probe denies "+version)
		return w.End(), nil
	case "verdict": // answers the raw verdict given after the colon
		return append(out, arg...), nil
	case "print":
		println("probe prints to stderr")
		os.Stdout.WriteString("probe prints to stdout\n")
		hostcall.Log(abi.LevelInfo, "probe logs through the host")
	case "kv":
		b, _ := hostcall.KVGet("counter")
		b = append(b, 'x')
		if err := hostcall.KVSet("counter", b); err != nil {
			return out, err
		}
		reason = string(b)
	case "now":
		reason = hostcall.Now().UTC().Format("2006")
	case "sleep": // time.Sleep is poll_oneoff with a clock subscription underneath
		d, _ := time.ParseDuration(arg)
		start := time.Now()
		time.Sleep(d)
		reason = "slept " + time.Since(start).String()
	case "busywait": // spins on the WASI clock
		d, _ := time.ParseDuration(arg)
		start := time.Now()
		for time.Since(start) < d {
		}
		reason = "waited " + time.Since(start).String()
	case "yield":
		for {
			schedYield()
		}
	case "lookup":
		g, err := hostcall.LookupGroup(arg)
		if err != nil {
			return out, err
		}
		reason = string(g)
	case "resolve":
		p, err := hostcall.ResolvePath(arg)
		if err != nil {
			return out, err
		}
		reason = p
	case "problem": // reports its config document invalid with the text after the colon
		if err := hostcall.ReportConfigProblem(arg); err != nil {
			return out, err
		}
	case "config":
		c, err := hostcall.Config()
		if err != nil {
			return out, err
		}
		reason = string(c)
	}
	w := wire.NewWriter(out)
	switch hook {
	case abi.HookMount:
		w.Bool("allow", true)
		w.Bool("readonly", true)
		w.String("hostPath", "/probe")
		w.String("containerPath", "/workspace/extra/probe")
	case abi.HookIPC:
		w.Bool("allow", true)
	default:
		w.String("action", "deliver")
		w.String("group", target(in))
	}
	w.String("reason", reason)
	return w.End(), nil
}

// target is where a route verdict delivers: the chat's own group, or "main" for a chat
// that is not registered.
func target(in []byte) string {
	v, err := wire.Parse(in)
	if err != nil {
		return "main"
	}
	if f, ok := v.Field("group").Field("folder").Str(); ok && f != "" {
		return f
	}
	return "main"
}

func init() {
	if atInit == "config" {
		_, _ = hostcall.Config()
	}
	for _, h := range []abi.Hook{abi.HookMount, abi.HookIPC, abi.HookRoute} {
		sdk.HandleRaw(h, func(in, out []byte) ([]byte, error) { return handle(h, in, out) })
	}
}

func main() {}
