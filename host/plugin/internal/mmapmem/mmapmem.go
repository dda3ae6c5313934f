//go:build unix

// Package mmapmem backs wasm linear memories with anonymous mappings reserved at their cap.
//
// wazero's default linear memory is a Go []byte that grows by copying: a Go guest whose heap
// grows stalled single calls for 40-100 ms, past their deadlines. Reserving the cap up front
// as a Go slice avoids the copy but costs resident memory. A private anonymous mapping costs
// neither: growing is re-slicing, and the kernel provides (zeroed) pages only when the guest
// first touches them.
package mmapmem

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Allocator creates mapped linear memories; use it with experimental.WithMemoryAllocator.
type Allocator struct{}

// Allocate implements experimental.MemoryAllocator. It falls back to nil (wazero's default
// allocator is then used) when the mapping cannot be made.
func (Allocator) Allocate(_, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &memory{buf: b}
}

type memory struct{ buf []byte }

// Reallocate implements experimental.LinearMemory: growing never moves the memory.
func (m *memory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory.
func (m *memory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}
