//go:build !unix

package mmapmem

import "github.com/tetratelabs/wazero/experimental"

// Allocator is wazero's default allocator on systems without mmap.
type Allocator struct{}

// Allocate returns nil: wazero then uses its own allocator.
func (Allocator) Allocate(_, _ uint64) experimental.LinearMemory { return nil }
