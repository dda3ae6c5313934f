// Package abi holds the numbers and names of the policy plugin ABI, the contract between the
// host (host/plugin) and a guest module written in any language. plugins/ABI.md is the
// specification; this package is its machine-readable half, imported by both ends so that
// neither can drift from the other.
package abi

// Version is the ABI version this host speaks and the Go SDK implements. A guest reports its
// version from the ExportVersion export; the host refuses a module that reports another one.
const Version = 1

// Exports every policy module must provide.
const (
	ExportMemory     = "memory"
	ExportInitialize = "_initialize"
	ExportVersion    = "policy_abi_version" // () -> i32
	ExportBuffer     = "policy_buf"         // () -> i32: offset of the mailbox in memory
	ExportBufferCap  = "policy_buf_cap"     // () -> i32: size of the mailbox in bytes
	ExportCall       = "policy_call"        // (hook i32, len i32) -> i64: status<<32 | out_len
)

// Hook selects the decision a policy_call asks for. It equals the plugin's kind: a module
// answers only the hook of the kind its manifest declares.
type Hook uint32

// Hooks, one per plugin kind.
const (
	HookMount Hook = 1
	HookIPC   Hook = 2
	HookRoute Hook = 3
)

// Status is the high half of policy_call's result.
type Status uint32

// Statuses a guest may return. Anything else is a malformed reply.
const (
	StatusOK       Status = 0 // the verdict is in buf[0:out_len]
	StatusError    Status = 1 // the guest failed; a message is in buf[0:out_len]
	StatusTooLarge Status = 2 // the verdict did not fit; out_len is the size it needed
)

// HostModule is the import module name of every capability host function.
const HostModule = "nanoclaw"

// WASIModule is the only other import module a plugin may use.
const WASIModule = "wasi_snapshot_preview1"

// Results of host functions that return i32: a length (>= 0) or one of these.
const (
	ErrNotFound   int32 = -1 // no such key, group or path
	ErrBadPointer int32 = -2 // a pointer/length pair is outside the guest's memory
	ErrTooLarge   int32 = -3 // an input is over its size cap
	ErrIO         int32 = -4 // the host could not get the fact (permission, loop, ...)
	ErrQuota      int32 = -5 // the plugin's key-value quota is exhausted
)

// Capability names a manifest can ask for, and the host functions each one grants.
const (
	CapLog    = "log"    // log(level i32, ptr i32, len i32)
	CapClock  = "clock"  // now() -> i64 unix nanoseconds
	CapPath   = "path"   // path_resolve(ptr, len, out, cap) -> i32; path_stat(ptr, len) -> i64
	CapGroups = "groups" // group_lookup(ptr, len, out, cap) -> i32
	CapKV     = "kv"     // kv_get(kptr, klen, out, cap) -> i32; kv_set(kptr, klen, vptr, vlen) -> i32
	CapConfig = "config" // config_read(out, cap) -> i32; config_version() -> i64; config_problem(ptr, len) -> i32
)

// Host function names, as imported from HostModule.
const (
	FnLog         = "log"
	FnNow         = "now"
	FnPathResolve = "path_resolve"
	FnPathStat    = "path_stat"
	FnGroupLookup = "group_lookup"
	FnKVGet       = "kv_get"
	FnKVSet       = "kv_set"
	FnConfigRead  = "config_read"
	FnConfigVer   = "config_version"
	FnConfigProb  = "config_problem"
)

// MaxConfigProblem is the longest message config_problem accepts.
const MaxConfigProblem = 1024

// CapabilityFunctions maps each capability to the host functions it grants.
func CapabilityFunctions(capability string) []string {
	switch capability {
	case CapLog:
		return []string{FnLog}
	case CapClock:
		return []string{FnNow}
	case CapPath:
		return []string{FnPathResolve, FnPathStat}
	case CapGroups:
		return []string{FnGroupLookup}
	case CapKV:
		return []string{FnKVGet, FnKVSet}
	case CapConfig:
		return []string{FnConfigRead, FnConfigVer, FnConfigProb}
	}
	return nil
}

// Capabilities lists every capability name, in a stable order.
func Capabilities() []string {
	return []string{CapLog, CapClock, CapPath, CapGroups, CapKV, CapConfig}
}

// Log levels for the log host function.
const (
	LevelDebug int32 = 1
	LevelInfo  int32 = 2
	LevelWarn  int32 = 3
	LevelError int32 = 4
)

// path_stat result bits. A negative result is one of the Err codes above.
const (
	StatExists  int64 = 1 << 0
	StatDir     int64 = 1 << 1
	StatRegular int64 = 1 << 2
	StatSymlink int64 = 1 << 3 // the path itself (not followed) is a symlink
	// The permission bits (mode & 0o7777) are in bits 16..27.
	StatModeShift = 16
)
