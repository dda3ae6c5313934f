//go:build wasip1

package hostcall

import (
	"time"
	"unsafe"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
)

//go:wasmimport nanoclaw log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport nanoclaw now
func hostNow() int64

//go:wasmimport nanoclaw path_resolve
func hostPathResolve(ptr unsafe.Pointer, n int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport nanoclaw path_stat
func hostPathStat(ptr unsafe.Pointer, n int32) int64

//go:wasmimport nanoclaw group_lookup
func hostGroupLookup(ptr unsafe.Pointer, n int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport nanoclaw kv_get
func hostKVGet(kptr unsafe.Pointer, kn int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport nanoclaw kv_set
func hostKVSet(kptr unsafe.Pointer, kn int32, vptr unsafe.Pointer, vn int32) int32

//go:wasmimport nanoclaw config_read
func hostConfigRead(out unsafe.Pointer, outCap int32) int32

//go:wasmimport nanoclaw config_version
func hostConfigVersion() int64

//go:wasmimport nanoclaw config_problem
func hostConfigProblem(ptr unsafe.Pointer, n int32) int32

func strPtr(s string) (unsafe.Pointer, int32) {
	return unsafe.Pointer(unsafe.StringData(s)), int32(len(s))
}

func bufPtr(b []byte) unsafe.Pointer {
	if cap(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b[:cap(b)]))
}

// fetch runs an http-wasm style call: the host writes only when the value fits and always
// reports its real length, so one retry with the right size is enough.
func fetch(call func(out unsafe.Pointer, outCap int32) int32, size int) ([]byte, error) {
	buf := make([]byte, size)
	for range 2 {
		n := call(bufPtr(buf), int32(len(buf)))
		if n < 0 {
			return nil, codeErr(n)
		}
		if int(n) <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
	return nil, ErrTooLarge
}

// Log writes msg to the host log at level (abi.LevelDebug..abi.LevelError). Capability: log.
func Log(level int32, msg string) {
	p, n := strPtr(msg)
	hostLog(level, p, n)
}

// Now is the host's wall clock. (WASI's clock is deliberately fake and deterministic.)
// Capability: clock.
func Now() time.Time { return time.Unix(0, hostNow()) }

// ResolvePath returns p with ~ expanded, made absolute and every symlink resolved, as the host
// sees it. Capability: path.
func ResolvePath(p string) (string, error) {
	ptr, n := strPtr(p)
	b, err := fetch(func(out unsafe.Pointer, c int32) int32 { return hostPathResolve(ptr, n, out, c) }, 256)
	return string(b), err
}

// StatPath reports facts about p without following a final symlink. Capability: path.
func StatPath(p string) (PathInfo, error) {
	ptr, n := strPtr(p)
	return decodeStat(hostPathStat(ptr, n))
}

// LookupGroup returns the registered group of chat JID key, as JSON
// (protocol.Group). Capability: groups.
func LookupGroup(key string) ([]byte, error) {
	ptr, n := strPtr(key)
	return fetch(func(out unsafe.Pointer, c int32) int32 { return hostGroupLookup(ptr, n, out, c) }, 512)
}

// KVGet reads the plugin's own state. Capability: kv.
func KVGet(key string) ([]byte, error) {
	ptr, n := strPtr(key)
	return fetch(func(out unsafe.Pointer, c int32) int32 { return hostKVGet(ptr, n, out, c) }, 256)
}

// KVSet writes the plugin's own state; an empty value deletes the key. Capability: kv.
func KVSet(key string, val []byte) error {
	kp, kn := strPtr(key)
	var vp unsafe.Pointer
	if len(val) > 0 {
		vp = unsafe.Pointer(unsafe.SliceData(val))
	}
	if r := hostKVSet(kp, kn, vp, int32(len(val))); r < 0 {
		return codeErr(r)
	}
	return nil
}

// Config reads the plugin's configuration document (for the mount guard: the allowlist).
// ErrNotFound means the operator configured none. Capability: config.
func Config() ([]byte, error) {
	return fetch(hostConfigRead, 4096)
}

// ConfigVersion changes whenever the host reloads the plugin's configuration document, so a
// plugin can keep its parsed configuration until then. Capability: config.
func ConfigVersion() int64 { return hostConfigVersion() }

// ReportConfigProblem tells the host that the plugin's configuration document is invalid
// and why (what it does instead included); an empty msg says the document is fine again.
// The host records it per document and shows it in `nanoclaw status` and the log, so the
// operator learns which file is wrong without reading plugin logs. Messages over
// abi.MaxConfigProblem bytes are cut. Capability: config.
func ReportConfigProblem(msg string) error {
	if len(msg) > abi.MaxConfigProblem {
		msg = msg[:abi.MaxConfigProblem]
	}
	p, n := strPtr(msg)
	if r := hostConfigProblem(p, n); r < 0 {
		return codeErr(r)
	}
	return nil
}
