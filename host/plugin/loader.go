package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/nanoclaw/nanoclaw-go/host/atomicfile"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/dataseg"
	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/interrupt"
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Loader compiles, checks and instantiates plugins. It owns what generations share: the
// compilation cache, the operator's grants, the host services and each plugin's key-value
// state (kept across reloads of the same plugin: same name and kind).
type Loader struct {
	probe     time.Duration
	noBreaker bool
	cache     wazero.CompilationCache // in-memory, shared; nil with a cache directory
	cacheDir  string                  // each engine opens its own cache on it (engine.go)
	grants    Grants
	services  Services
	log       hclog.Logger

	// Idle release: modules kept for restarts live in modules (under the cache directory).
	idle     time.Duration
	released func()
	busy     func() bool
	modules  string

	mu       sync.Mutex
	kv       map[kvKey]*kvStore
	problems problemBook

	start time.Duration // bounds each instance's _initialize; 0: instantiateTimeout (tests shorten it)
}

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	// CacheDir holds compiled native code across restarts. It is created with mode 0700 and
	// must be owned by this user: wazero does not re-validate cached code. Empty means an
	// in-memory cache only.
	CacheDir string
	Grants   Grants // nil means DefaultGrants
	Services Services
	Logger   hclog.Logger
	// BreakerProbe is how often a tripped plugin retries its self-check (default 30 s).
	BreakerProbe time.Duration
	// NoBreaker keeps every plugin's breaker closed: each call is judged on its own. For
	// fuzzing, where one process feeds a plugin thousands of inputs and a tripped breaker
	// would be reported as the fault of whichever input came next.
	NoBreaker bool
	// IdleRelease is how long a plugin may go without a call before it releases its native
	// code, decoded module and instances (~15 MB for a Go guest); its next call starts them
	// again from the cache (tens of ms). 0 keeps every plugin ready for ever. It needs
	// CacheDir.
	IdleRelease time.Duration
	// Released, if set, runs after each idle release; the host hands the memory back to the
	// OS there.
	Released func()
	// Busy, if set, reports work in flight (an agent running): no plugin is released while
	// it does, so a follow-up or an IPC request of a running agent never waits for one.
	Busy func() bool
}

// NewLoader prepares a Loader.
func NewLoader(cfg LoaderConfig) (*Loader, error) {
	l := &Loader{grants: cfg.Grants, services: cfg.Services.withDefaults(), log: cfg.Logger, kv: map[kvKey]*kvStore{}, probe: cfg.BreakerProbe, noBreaker: cfg.NoBreaker,
		idle: cfg.IdleRelease, released: cfg.Released, busy: cfg.Busy}
	if l.probe <= 0 {
		l.probe = DefaultBreakerProbe
	}
	if l.grants == nil {
		l.grants = DefaultGrants()
	}
	if l.log == nil {
		l.log = hclog.NewNullLogger()
	}
	l.problems.log = l.log
	if cfg.CacheDir == "" {
		l.cache = wazero.NewCompilationCache()
		return l, nil
	}
	if err := securePrivateDir(cfg.CacheDir); err != nil {
		return nil, fmt.Errorf("plugin compilation cache: %w", err)
	}
	c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("plugin compilation cache %s: %w", cfg.CacheDir, err)
	}
	_ = c.Close(context.Background()) // checked usable; engines open their own
	l.cacheDir = cfg.CacheDir
	l.modules = filepath.Join(cfg.CacheDir, "modules")
	if err := securePrivateDir(l.modules); err != nil {
		return nil, fmt.Errorf("plugin module store: %w", err)
	}
	return l, nil
}

// securePrivateDir creates dir with mode 0700, or tightens an existing one, and refuses a
// directory owned by another user: whoever can write there can run native code in the host.
func securePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (%d)", dir, st.Uid, os.Getuid())
	}
	if fi.Mode().Perm() != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// Close releases the shared in-memory compilation cache, if any (with a cache directory
// each engine closes its own).
func (l *Loader) Close(ctx context.Context) error {
	if l.cache == nil {
		return nil
	}
	return l.cache.Close(ctx)
}

// ManifestPath is the manifest beside a .wasm file: foo.wasm → foo.json.
func ManifestPath(wasmPath string) string {
	return strings.TrimSuffix(wasmPath, filepath.Ext(wasmPath)) + ".json"
}

// ErrNotWasm is returned for a file that is not a WebAssembly module a plugin can be: not
// one at all, or damaged.
var ErrNotWasm = errors.New("not a WebAssembly module")

// pluginShape is what a user is told a plugin is when part of one is missing.
const pluginShape = "a plugin is NAME.wasm (built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) " +
	"with its manifest NAME.json beside it (name, kind, abi, capabilities; plugins/*/manifest.json are examples)"

// LoadFile loads the plugin at wasmPath with the manifest beside it. Its errors name the
// file at fault in the user's terms: the module missing, the manifest missing, a file that
// is not WebAssembly.
func (l *Loader) LoadFile(ctx context.Context, wasmPath string) (*Plugin, error) {
	wasm, err := os.ReadFile(wasmPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist: %s", wasmPath, pluginShape)
	case err != nil:
		if fi, serr := os.Stat(wasmPath); serr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory, %w", wasmPath, ErrNotWasm)
		}
		return nil, fmt.Errorf("read plugin: %w", err)
	}
	m, err := ReadManifest(ManifestPath(wasmPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no manifest: %s is missing; %s", wasmPath, ManifestPath(wasmPath), pluginShape)
	}
	if err != nil {
		return nil, err
	}
	p, err := l.Load(ctx, m, wasm)
	if errors.Is(err, ErrNotWasm) {
		return nil, fmt.Errorf("%s is %w", wasmPath, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wasmPath, err)
	}
	p.Path = wasmPath
	return p, nil
}

// Load compiles wasm under manifest m, checks its imports and exports, fills its pool and
// runs the self-check. Nothing is published: the caller decides when it starts serving.
func (l *Loader) Load(ctx context.Context, m *Manifest, wasm []byte) (p *Plugin, err error) {
	granted, err := l.grants.granted(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	log := l.log.Named(m.Name).With("kind", m.Kind)
	p = &Plugin{
		Manifest: m,
		Hash:     hex.EncodeToString(sum[:]),
		Granted:  granted,
		LoadedAt: time.Now(),
		logs:     newGuestLog(log.Named("guest")),
		log:      log,
		memLimit: uint32(m.Limits.MemoryMiB) << 20,

		breakerProbe: l.probe,
		startLimit:   l.start,
		noBreaker:    l.noBreaker,
	}
	// Deadlines are enforced by the interrupt global added to the module, not by wazero's
	// WithCloseOnContextDone, which costs a Go guest 5-10x (internal/interrupt explains).
	// Before that, Go guests' ~32k data segments, which wazero would keep decoded for the
	// plugin's lifetime, become a few merged ones describing the same memory (dataseg).
	if err := checkWasmHeader(wasm); err != nil {
		return nil, err
	}
	code, _ := dataseg.Coalesce(wasm)
	code, err = interrupt.Instrument(code)
	if err != nil {
		// The header was right, so the module is damaged (a truncated download, say):
		// the instrumentation is the first to read it through.
		return nil, fmt.Errorf("%w: it is damaged (%s)", ErrNotWasm, strings.TrimPrefix(err.Error(), "interrupt instrumentation: "))
	}
	e, err := l.startEngine(ctx, p, code, true)
	if err != nil {
		return nil, err
	}
	p.eng = e
	p.done = make(chan struct{})
	if err := selfCheck(ctx, p); err != nil {
		p.retire(context.Background())
		return nil, fmt.Errorf("self-check: %w", err)
	}
	l.keepForRestart(p, code)
	return p, nil
}

// startEngine compiles code (from the cache when it is there), links WASI and the granted
// host functions and fills the instance pool. check runs the import and export checks,
// needed once per module.
func (l *Loader) startEngine(ctx context.Context, p *Plugin, code []byte, check bool) (_ *engine, err error) {
	m := p.Manifest
	cache, owned := l.cache, false
	if l.cacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(l.cacheDir); err != nil {
			return nil, fmt.Errorf("plugin compilation cache %s: %w", l.cacheDir, err)
		}
		owned = true
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(uint32(m.Limits.MemoryMiB) * 16)
	e := &engine{rt: wazero.NewRuntimeWithConfig(ctx, rc), counted: make(chan struct{}, 1)}
	if owned {
		e.cache = cache
	}
	defer func() {
		if err != nil {
			e.close(context.Background())
		}
	}()
	e.compiled, err = e.rt.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	if check {
		if err := checkImports(e.compiled, m, p.Granted); err != nil {
			return nil, err
		}
		if err := checkExports(e.compiled); err != nil {
			return nil, err
		}
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		return nil, fmt.Errorf("wasi: %w", err)
	}
	env := &hostEnv{manifest: m, config: m.Config, svc: l.services, kv: l.kvFor(m.Name, m.Kind), logs: p.logs, problems: &l.problems}
	if err := env.instantiateHostModule(ctx, e.rt, p.Granted); err != nil {
		return nil, fmt.Errorf("host functions: %w", err)
	}
	newInst := func(ctx context.Context) (*instance, error) { return p.newInstance(ctx, e) }
	e.pool = newPool(poolSize(m.Limits), newInst, func(err error) {
		p.fault(FaultTrap, fmt.Errorf("replacement instance: %w", err))
	})
	if err := e.pool.fill(ctx, poolSize(m.Limits)); err != nil {
		return nil, err
	}
	return e, nil
}

// keepForRestart arms p's idle release. The module as compiled is kept in the private cache
// directory, beside its native code, so that a restart depends neither on the plugin file
// (edited or deleted meanwhile) nor on memory; its hash is checked when it is read back.
// Without a cache directory, or with IdleRelease 0, the plugin keeps its engine for ever.
func (l *Loader) keepForRestart(p *Plugin, code []byte) {
	if l.idle <= 0 || l.modules == "" {
		return
	}
	sum := sha256.Sum256(code)
	path := filepath.Join(l.modules, hex.EncodeToString(sum[:])+".wasm")
	if _, err := os.Stat(path); err != nil {
		if err := atomicfile.Write(path, code, 0o600); err != nil {
			p.log.Warn("cannot keep the module for restarts; the plugin stays loaded while idle", "error", err)
			return
		}
	}
	p.restart = func(ctx context.Context) (*engine, error) {
		code, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("kept module: %w", err)
		}
		if sha256.Sum256(code) != sum {
			return nil, fmt.Errorf("kept module %s does not match its hash", path)
		}
		return l.startEngine(ctx, p, code, false)
	}
	p.idle, p.released, p.busy = l.idle, l.released, l.busy
	p.lastUse.Store(int64(time.Since(p.LoadedAt)))
	// Armed far off, published, then set: the callback only runs once the timer is published.
	t := time.AfterFunc(time.Duration(math.MaxInt64), p.releaseIfIdle)
	p.idleTimer.Store(t)
	t.Reset(p.idle)
}

// kvKey names a plugin's key-value state: its name and its kind, so that a plugin of
// another kind that borrows a name (the registry refuses that, but the loader serves the
// CLI and tests too) never reads or writes the owner's state.
type kvKey struct {
	name string
	kind protocol.Kind
}

func (l *Loader) kvFor(name string, kind protocol.Kind) *kvStore {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := kvKey{name, kind}
	s := l.kv[k]
	if s == nil {
		s = &kvStore{}
		l.kv[k] = s
	}
	return s
}

// ErrImport marks a module that imports something its manifest and grants do not allow.
var ErrImport = errors.New("forbidden import")

// checkImports allows WASI and the host functions of the granted capabilities, nothing else,
// and names the first offending import.
func checkImports(cm wazero.CompiledModule, m *Manifest, granted []string) error {
	allowed := map[string]string{}
	for _, c := range abi.Capabilities() {
		for _, fn := range abi.CapabilityFunctions(c) {
			allowed[fn] = c
		}
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case abi.WASIModule:
			continue
		case abi.HostModule:
			c, known := allowed[name]
			if !known {
				return fmt.Errorf("%w: %s.%s is not a host function this host provides", ErrImport, mod, name)
			}
			if !slices.Contains(granted, c) {
				if !slices.Contains(m.Capabilities, c) {
					return fmt.Errorf("%w: %s.%s needs capability %q, which the manifest does not ask for", ErrImport, mod, name, c)
				}
				return fmt.Errorf("%w: %s.%s needs capability %q, which is not granted to %s plugins", ErrImport, mod, name, c, m.Kind)
			}
		default:
			return fmt.Errorf("%w: %s.%s is not a capability this host provides", ErrImport, mod, name)
		}
	}
	for _, def := range cm.ImportedMemories() {
		mod, name, _ := def.Import()
		return fmt.Errorf("%w: memory %s.%s (a plugin must define its own memory)", ErrImport, mod, name)
	}
	return nil
}

// ErrExport marks a module that lacks an ABI export or has one with the wrong signature.
var ErrExport = errors.New("bad export")

func checkExports(cm wazero.CompiledModule) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := []struct {
		name            string
		params, results []api.ValueType
	}{
		{abi.ExportVersion, nil, []api.ValueType{i32}},
		{abi.ExportBuffer, nil, []api.ValueType{i32}},
		{abi.ExportBufferCap, nil, []api.ValueType{i32}},
		{abi.ExportCall, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	fns := cm.ExportedFunctions()
	for _, w := range want {
		def, ok := fns[w.name]
		if !ok {
			return fmt.Errorf("%w: it does not export %s, so it was not built as a NanoClaw plugin (plugins/ABI.md; plugins/sdk builds one)", ErrExport, w.name)
		}
		if !slices.Equal(def.ParamTypes(), w.params) || !slices.Equal(def.ResultTypes(), w.results) {
			return fmt.Errorf("%w: %s has signature %s, want %s", ErrExport, w.name,
				sig(def.ParamTypes(), def.ResultTypes()), sig(w.params, w.results))
		}
	}
	if def, ok := fns[abi.ExportInitialize]; ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0) {
		return fmt.Errorf("%w: %s must take and return nothing", ErrExport, abi.ExportInitialize)
	}
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("%w: missing memory export %q", ErrExport, abi.ExportMemory)
	}
	return nil
}

func sig(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ",") + ")"
	}
	return name(params) + "->" + name(results)
}

// selfCheck asks a fresh plugin one decision of its kind and insists on a well-formed
// verdict, so a module that loads but cannot answer never starts serving.
func selfCheck(ctx context.Context, p *Plugin) error { return selfCheckCall(ctx, p, p.Call) }

func selfCheckCall(ctx context.Context, p *Plugin, call func(ctx context.Context, req, out []byte) ([]byte, error)) error {
	var req []byte
	switch p.Kind() {
	case protocol.KindMount:
		r := protocol.MountRequest{Group: "selfcheck", HostPath: "/nonexistent/nanoclaw-selfcheck", ContainerPath: "selfcheck", ReadOnly: true}
		req = r.AppendJSON(nil)
	case protocol.KindIPC:
		r := protocol.IPCRequest{Group: "selfcheck", Dir: "tasks", Request: []byte(`{"type":"list_tasks"}`)}
		req = r.AppendJSON(nil)
	case protocol.KindRoute:
		r := protocol.RouteRequest{Message: protocol.Message{ID: "selfcheck", ChatJID: "selfcheck@local", Content: "selfcheck"}, AssistantName: "Andy"}
		req = r.AppendJSON(nil)
	}
	out, err := call(ctx, req, nil)
	if err != nil {
		return err
	}
	if err := decodeVerdict(p.Kind(), out); err != nil {
		return fmt.Errorf("verdict %q: %w", truncate(out, 200), err)
	}
	return nil
}

func decodeVerdict(k protocol.Kind, out []byte) error {
	switch k {
	case protocol.KindMount:
		var v protocol.MountVerdict
		return v.UnmarshalJSON(out)
	case protocol.KindIPC:
		var v protocol.IPCVerdict
		return v.UnmarshalJSON(out)
	default:
		var v protocol.RouteVerdict
		return v.UnmarshalJSON(out)
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// checkWasmHeader tells a file that is not WebAssembly at all, or WebAssembly of another
// version, from a module that fails later for its own reasons.
func checkWasmHeader(wasm []byte) error {
	const magic = "\x00asm"
	if len(wasm) < 8 || string(wasm[:4]) != magic {
		head := wasm[:min(len(wasm), 8)]
		return fmt.Errorf("%w (a module starts with \\0asm; this file starts with %q)", ErrNotWasm, head)
	}
	if v := binary.LittleEndian.Uint32(wasm[4:8]); v != 1 {
		return fmt.Errorf("%w this host runs: WebAssembly version %d, want 1", ErrNotWasm, v)
	}
	return nil
}
