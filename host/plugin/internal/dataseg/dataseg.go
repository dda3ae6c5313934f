// Package dataseg coalesces a module's active data segments into a few large ones.
//
// Go's linker writes a module's initial memory as tens of thousands of small data segments
// (it splits at every run of zeros): 32k segments for 0.8 MB of data in one of our guests.
// wazero keeps every segment decoded for the module's lifetime, and every instance keeps a
// slice header per segment, which together cost about 4 MB of Go heap per plugin, four times
// the data itself. Merging segments across short gaps of zeros gives the same initial memory
// in a handful of segments.
//
// The rewrite applies only when it cannot change what instantiation does: every segment is
// active, in memory 0, at a constant i32 offset; no two segments overlap, so their order
// does not matter and the gaps are never written by anyone (memory starts zeroed); and there
// is no data count section, without which no instruction can refer to a segment by index.
// Anything else leaves the module as it was.
package dataseg

import (
	"sort"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/wasmbin"
)

// MaxGap is the longest run of zeros merged into a segment. A segment costs wazero about
// 100 bytes of bookkeeping, so filling a shorter gap with zeros costs less than keeping it.
const MaxGap = 128

type segment struct {
	offset uint32
	data   []byte
}

// Coalesce returns module with its data segments merged, and whether it changed anything.
// It never fails: a module it does not understand, or one with nothing to merge, is
// returned as it is, and wazero's validation judges it.
func Coalesce(module []byte) ([]byte, bool) {
	secs, err := wasmbin.Sections(module)
	if err != nil {
		return module, false
	}
	dataAt := -1
	for i, s := range secs {
		switch s.ID {
		case wasmbin.SecDataCount:
			return module, false
		case wasmbin.SecData:
			if dataAt >= 0 {
				return module, false
			}
			dataAt = i
		}
	}
	if dataAt < 0 {
		return module, false
	}
	segs, ok := parse(secs[dataAt].Body)
	if !ok {
		return module, false
	}
	merged, ok := merge(segs)
	if !ok || len(merged) >= len(segs) {
		return module, false
	}
	out := make([]byte, 0, len(module))
	out = append(out, module[:8]...)
	for i, s := range secs {
		body := s.Body
		if i == dataAt {
			body = encode(merged)
		}
		out = wasmbin.AppendSection(out, s.ID, body)
	}
	return out, true
}

// parse reads a data section whose segments all have the form Coalesce can merge.
func parse(body []byte) ([]segment, bool) {
	r := wasmbin.Reader{B: body}
	n := r.U32()
	if r.Err != nil || int(n) > len(body) { // a segment takes at least 4 bytes
		return nil, false
	}
	segs := make([]segment, 0, n)
	for range n {
		// Flag 0: active, memory 0, offset expression (i32.const k) end.
		if r.U32() != 0 || r.Byte() != 0x41 {
			return nil, false
		}
		off := uint32(r.S32())
		if r.Byte() != 0x0B {
			return nil, false
		}
		data := r.Bytes(int(r.U32()))
		if r.Err != nil {
			return nil, false
		}
		segs = append(segs, segment{off, data})
	}
	if r.Pos != len(body) {
		return nil, false
	}
	return segs, true
}

// merge sorts the segments by offset and joins neighbours at most MaxGap apart. It reports
// false when two segments overlap or one wraps past 4 GiB: their order would then matter.
func merge(segs []segment) ([]segment, bool) {
	sorted := append([]segment(nil), segs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].offset < sorted[j].offset })
	var out []segment
	var end uint64 // end of the last segment in out
	for _, s := range sorted {
		start := uint64(s.offset)
		if start+uint64(len(s.data)) > 1<<32 {
			return nil, false
		}
		if len(out) > 0 && start < end {
			return nil, false
		}
		if len(out) > 0 && start-end <= MaxGap {
			last := &out[len(out)-1]
			last.data = append(last.data, make([]byte, start-end)...)
			last.data = append(last.data, s.data...)
		} else {
			out = append(out, segment{s.offset, append([]byte(nil), s.data...)})
		}
		end = start + uint64(len(s.data))
	}
	return out, true
}

func encode(segs []segment) []byte {
	size := 5
	for _, s := range segs {
		size += 16 + len(s.data)
	}
	b := wasmbin.AppendU32(make([]byte, 0, size), uint32(len(segs)))
	for _, s := range segs {
		b = append(b, 0x00, 0x41)
		b = wasmbin.AppendS32(b, int32(s.offset))
		b = append(b, 0x0B)
		b = wasmbin.AppendU32(b, uint32(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}
