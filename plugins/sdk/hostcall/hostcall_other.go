//go:build !wasip1

package hostcall

import "time"

// Log is a no-op outside wasm.
func Log(level int32, msg string) {}

// Now is the local clock outside wasm.
func Now() time.Time { return time.Now() }

// ResolvePath reports ErrUnavailable outside wasm.
func ResolvePath(p string) (string, error) { return "", ErrUnavailable }

// StatPath reports ErrUnavailable outside wasm.
func StatPath(p string) (PathInfo, error) { return PathInfo{}, ErrUnavailable }

// LookupGroup reports ErrUnavailable outside wasm.
func LookupGroup(key string) ([]byte, error) { return nil, ErrUnavailable }

// KVGet reports ErrUnavailable outside wasm.
func KVGet(key string) ([]byte, error) { return nil, ErrUnavailable }

// KVSet reports ErrUnavailable outside wasm.
func KVSet(key string, val []byte) error { return ErrUnavailable }

// Config reports ErrUnavailable outside wasm.
func Config() ([]byte, error) { return nil, ErrUnavailable }

// ConfigVersion is always 0 outside wasm.
func ConfigVersion() int64 { return 0 }

// ReportConfigProblem reports ErrUnavailable outside wasm.
func ReportConfigProblem(msg string) error { return ErrUnavailable }
