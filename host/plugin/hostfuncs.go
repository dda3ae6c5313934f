package plugin

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Size caps on what a guest may hand a host function.
const (
	maxLogBytes  = 4 << 10
	maxPathBytes = 4 << 10
	maxKeyBytes  = 1 << 10
)

// hostEnv is what the host functions of one plugin close over. Per-call state (a scratch
// buffer) comes from the instance through the call context, so concurrent instances never
// share a buffer.
type hostEnv struct {
	manifest *Manifest
	config   string // the manifest's config document name
	svc      Services
	kv       *kvStore
	logs     *guestLog
	problems *problemBook
}

type i32 = api.ValueType

var (
	tI32 = api.ValueTypeI32
	tI64 = api.ValueTypeI64
)

// instantiateHostModule builds the "nanoclaw" module with exactly the functions of the
// granted capabilities. A guest importing anything else has already been refused.
func (e *hostEnv) instantiateHostModule(ctx context.Context, rt wazero.Runtime, caps []string) error {
	if len(caps) == 0 {
		return nil
	}
	b := rt.NewHostModuleBuilder(abi.HostModule)
	add := func(name string, fn api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(fn, params, results).Export(name)
	}
	for _, c := range caps {
		switch c {
		case abi.CapLog:
			add(abi.FnLog, e.log, []i32{tI32, tI32, tI32}, nil)
		case abi.CapClock:
			add(abi.FnNow, e.now, nil, []i32{tI64})
		case abi.CapPath:
			add(abi.FnPathResolve, e.pathResolve, []i32{tI32, tI32, tI32, tI32}, []i32{tI32})
			add(abi.FnPathStat, e.pathStat, []i32{tI32, tI32}, []i32{tI64})
		case abi.CapGroups:
			add(abi.FnGroupLookup, e.groupLookup, []i32{tI32, tI32, tI32, tI32}, []i32{tI32})
		case abi.CapKV:
			add(abi.FnKVGet, e.kvGet, []i32{tI32, tI32, tI32, tI32}, []i32{tI32})
			add(abi.FnKVSet, e.kvSet, []i32{tI32, tI32, tI32, tI32}, []i32{tI32})
		case abi.CapConfig:
			add(abi.FnConfigRead, e.configRead, []i32{tI32, tI32}, []i32{tI32})
			add(abi.FnConfigVer, e.configVersion, nil, []i32{tI64})
			add(abi.FnConfigProb, e.configProblem, []i32{tI32, tI32}, []i32{tI32})
		}
	}
	_, err := b.Instantiate(ctx)
	return err
}

// scratchFor returns the calling instance's scratch buffer, or a fresh one for calls made
// while the instance is still initialising (no call context yet).
func scratchFor(ctx context.Context) []byte {
	if c, ok := ctx.(*callCtx); ok {
		return c.scratch[:0]
	}
	return nil
}

func keepScratch(ctx context.Context, b []byte) {
	if c, ok := ctx.(*callCtx); ok && cap(b) > cap(c.scratch) && cap(b) <= 64<<10 {
		c.scratch = b[:0]
	}
}

// readGuest returns a view of guest memory, or false when the range is outside it or over
// max. Only the low 32 bits of an i32 stack slot are the value: the rest is not cleared.
func readGuest(mem api.Memory, ptr, n uint64, max int) ([]byte, bool) {
	if uint32(n) > uint32(max) {
		return nil, false
	}
	return mem.Read(uint32(ptr), uint32(n))
}

// writeIfFits copies data to guest memory when it fits in outCap and always reports the real
// length (the http-wasm convention), so the guest can retry with a larger buffer.
func writeIfFits(mem api.Memory, out, outCap uint64, data []byte) uint64 {
	if uint64(uint32(out))+uint64(uint32(outCap)) > uint64(mem.Size()) {
		return code(abi.ErrBadPointer)
	}
	if len(data) > int(uint32(outCap)) {
		return uint64(len(data))
	}
	if !mem.Write(uint32(out), data) {
		return code(abi.ErrBadPointer)
	}
	return uint64(len(data))
}

func code(c int32) uint64 { return uint64(uint32(c)) }

func (e *hostEnv) log(ctx context.Context, mod api.Module, stack []uint64) {
	level := int32(stack[0])
	msg, ok := readGuest(mod.Memory(), stack[1], stack[2], maxLogBytes)
	if !ok {
		msg = []byte("<log message outside guest memory or over 4 KiB>")
	}
	e.logs.message(level, msg)
}

// slow runs a service call that may wait, bounded by the call's deadline (bounded.go); it
// reports false when the deadline came first. Outside a call (no call context) it runs op
// directly.
func slow(ctx context.Context, op func()) bool {
	c, ok := ctx.(*callCtx)
	if !ok {
		op()
		return true
	}
	return c.bounded(op)
}

func (e *hostEnv) now(ctx context.Context, mod api.Module, stack []uint64) {
	if e.svc.realClock {
		stack[0] = uint64(time.Now().UnixNano())
		return
	}
	var t time.Time
	if !slow(ctx, func() { t = e.svc.Clock() }) {
		stack[0] = 0
		return
	}
	stack[0] = uint64(t.UnixNano())
}

func pathErr(err error) uint64 {
	if errors.Is(err, fs.ErrNotExist) {
		return code(abi.ErrNotFound)
	}
	return code(abi.ErrIO)
}

// The path capability reads the filesystem, which can hang (a network mount): it always
// runs bounded.

func (e *hostEnv) pathResolve(ctx context.Context, mod api.Module, stack []uint64) {
	p, ok := readGuest(mod.Memory(), stack[0], stack[1], maxPathBytes)
	if !ok {
		stack[0] = code(abi.ErrBadPointer)
		return
	}
	path := string(p)
	var real string
	var err error
	if !slow(ctx, func() { real, err = e.svc.Paths.Resolve(path) }) {
		stack[0] = code(abi.ErrIO)
		return
	}
	if err != nil {
		stack[0] = pathErr(err)
		return
	}
	buf := append(scratchFor(ctx), real...)
	stack[0] = writeIfFits(mod.Memory(), stack[2], stack[3], buf)
	keepScratch(ctx, buf)
}

func (e *hostEnv) pathStat(ctx context.Context, mod api.Module, stack []uint64) {
	ioErr := int64(abi.ErrIO) // i64 result: sign-extended
	p, ok := readGuest(mod.Memory(), stack[0], stack[1], maxPathBytes)
	if !ok {
		stack[0] = code(abi.ErrBadPointer)
		return
	}
	path := string(p)
	var info PathInfo
	var err error
	if !slow(ctx, func() { info, err = e.svc.Paths.Stat(path) }) || err != nil {
		stack[0] = uint64(ioErr)
		return
	}
	stack[0] = uint64(info.encode())
}

func (e *hostEnv) groupLookup(ctx context.Context, mod api.Module, stack []uint64) {
	key, ok := readGuest(mod.Memory(), stack[0], stack[1], maxKeyBytes)
	if !ok {
		stack[0] = code(abi.ErrBadPointer)
		return
	}
	if e.svc.Groups == nil {
		stack[0] = code(abi.ErrNotFound)
		return
	}
	var g protocol.Group
	var found bool
	tryer, fast := e.svc.Groups.(GroupTryer)
	if fast {
		g, found, fast = tryer.TryLookupGroup(key)
	}
	if !fast {
		var r struct { // declared here: only this path pays for the closure
			g     protocol.Group
			found bool
		}
		k := string(key) // the helper may outlive the guest's memory
		if !slow(ctx, func() { r.g, r.found = e.svc.Groups.LookupGroup([]byte(k)) }) {
			stack[0] = code(abi.ErrIO)
			return
		}
		g, found = r.g, r.found
	}
	if !found {
		stack[0] = code(abi.ErrNotFound)
		return
	}
	buf := g.AppendJSON(scratchFor(ctx))
	stack[0] = writeIfFits(mod.Memory(), stack[2], stack[3], buf)
	keepScratch(ctx, buf)
}

func (e *hostEnv) kvGet(ctx context.Context, mod api.Module, stack []uint64) {
	key, ok := readGuest(mod.Memory(), stack[0], stack[1], maxKeyBytes)
	if !ok {
		stack[0] = code(abi.ErrBadPointer)
		return
	}
	val, found, fast := e.kv.tryGet(key)
	if !fast {
		var r struct {
			val   []byte
			found bool
		}
		k := string(key)
		if !slow(ctx, func() { r.val, r.found = e.kv.get([]byte(k)) }) {
			stack[0] = code(abi.ErrIO)
			return
		}
		val, found = r.val, r.found
	}
	if !found {
		stack[0] = code(abi.ErrNotFound)
		return
	}
	stack[0] = writeIfFits(mod.Memory(), stack[2], stack[3], val)
}

func (e *hostEnv) kvSet(ctx context.Context, mod api.Module, stack []uint64) {
	key, ok := readGuest(mod.Memory(), stack[0], stack[1], maxKeyBytes)
	if !ok {
		stack[0] = code(abi.ErrBadPointer)
		return
	}
	val, ok := readGuest(mod.Memory(), stack[2], stack[3], MaxKVValueBytes)
	if !ok {
		stack[0] = code(abi.ErrTooLarge)
		return
	}
	res, fast := e.kv.trySet(key, val)
	if !fast {
		var r int32
		k, v := string(key), string(val)
		if !slow(ctx, func() { r = e.kv.set([]byte(k), []byte(v)) }) {
			stack[0] = code(abi.ErrIO)
			return
		}
		res = r
	}
	stack[0] = code(res)
}

// configDoc asks the config service for the plugin's document, at once when it can say it
// answers without waiting, else bounded; ok is false when the deadline came first.
func (e *hostEnv) configDoc(ctx context.Context) (doc []byte, version int64, found, ok bool) {
	if tryer, fast := e.svc.Config.(ConfigTryer); fast {
		if doc, version, found, fast = tryer.TryConfigDoc(e.config); fast {
			return doc, version, found, true
		}
	}
	var r struct {
		doc     []byte
		version int64
		found   bool
	}
	if !slow(ctx, func() { r.doc, r.version, r.found = e.svc.Config.ConfigDoc(e.config) }) {
		return nil, 0, false, false
	}
	return r.doc, r.version, r.found, true
}

func (e *hostEnv) configRead(ctx context.Context, mod api.Module, stack []uint64) {
	if e.svc.Config == nil || e.config == "" {
		stack[0] = code(abi.ErrNotFound)
		return
	}
	doc, _, found, ok := e.configDoc(ctx)
	switch {
	case !ok:
		stack[0] = code(abi.ErrIO)
	case !found:
		stack[0] = code(abi.ErrNotFound)
	default:
		stack[0] = writeIfFits(mod.Memory(), stack[0], stack[1], doc)
	}
}

func (e *hostEnv) configVersion(ctx context.Context, mod api.Module, stack []uint64) {
	var v int64
	if e.svc.Config != nil && e.config != "" {
		_, v, _, _ = e.configDoc(ctx) // a version of 0 makes the guest read again later
	}
	stack[0] = uint64(v)
}

// Services are the host's answers to capabilities. Nil members answer "not found". A
// service may wait (a lock, a filesystem): host functions bound every call that might by
// the plugin's deadline (bounded.go); the optional Try methods (GroupTryer, ConfigTryer)
// let an in-memory service answer on the spot instead.
type Services struct {
	Paths  PathFacts
	Groups GroupDirectory
	Config ConfigSource
	Clock  func() time.Time

	realClock bool // Clock is the system's: it never waits
}

func (s Services) withDefaults() Services {
	if s.Paths == nil {
		s.Paths = OSPaths{}
	}
	if s.Clock == nil {
		s.Clock, s.realClock = time.Now, true
	}
	return s
}

// configProblem records that the plugin finds its configuration document invalid (an empty
// message: valid again). A plugin can only speak for its own document, the one its
// manifest names; one without a document has nothing to report on.
func (e *hostEnv) configProblem(ctx context.Context, mod api.Module, stack []uint64) {
	msg, ok := readGuest(mod.Memory(), stack[0], stack[1], abi.MaxConfigProblem)
	if !ok {
		stack[0] = code(abi.ErrTooLarge)
		return
	}
	if e.config == "" {
		stack[0] = code(abi.ErrNotFound)
		return
	}
	text := string(msg)
	// Rare (once per change of the document), and it logs, so it always runs bounded.
	if !slow(ctx, func() {
		path := ""
		if ps, ok := e.svc.Config.(PathSource); ok {
			path = ps.Path(e.config)
		}
		e.problems.report(e.manifest, path, text)
	}) {
		stack[0] = code(abi.ErrIO)
		return
	}
	stack[0] = 0
}
