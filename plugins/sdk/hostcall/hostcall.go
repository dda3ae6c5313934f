// Package hostcall is the guest side of the capability host functions. Each capability is a
// set of plain functions, so the linker keeps only the imports a plugin really calls, and the
// module's import list is exactly what its manifest must ask for. Outside wasm every function
// reports ErrUnavailable, so plugin mains still build natively.
package hostcall

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
)

// Errors the host functions report.
var (
	// ErrNotFound wraps fs.ErrNotExist, so policy code can test for a missing path the same
	// way natively and in wasm.
	ErrNotFound    = fmt.Errorf("not found: %w", fs.ErrNotExist)
	ErrBadPointer  = errors.New("host rejected a guest pointer")
	ErrTooLarge    = errors.New("value over the host's size cap")
	ErrIO          = errors.New("host could not get the fact")
	ErrQuota       = errors.New("key-value quota exhausted")
	ErrUnavailable = errors.New("host functions exist only in the wasm build")
)

func codeErr(code int32) error {
	switch code {
	case abi.ErrNotFound:
		return ErrNotFound
	case abi.ErrBadPointer:
		return ErrBadPointer
	case abi.ErrTooLarge:
		return ErrTooLarge
	case abi.ErrIO:
		return ErrIO
	case abi.ErrQuota:
		return ErrQuota
	}
	return fmt.Errorf("host error %d", code)
}

// PathInfo is what path_stat reports; it never includes contents.
type PathInfo struct {
	Exists, Dir, Regular, Symlink bool
	Perm                          uint32
}

func decodeStat(r int64) (PathInfo, error) {
	if r < 0 {
		return PathInfo{}, codeErr(int32(r))
	}
	return PathInfo{
		Exists:  r&abi.StatExists != 0,
		Dir:     r&abi.StatDir != 0,
		Regular: r&abi.StatRegular != 0,
		Symlink: r&abi.StatSymlink != 0,
		Perm:    uint32(r>>abi.StatModeShift) & 0o7777,
	}, nil
}
