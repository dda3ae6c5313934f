// Package interrupt makes a WebAssembly module stoppable at its deadline without slowing it
// down: it adds an exported mutable i32 global and, at the head of every loop, a check that
// traps when the global is non-zero. The host sets the global from a timer; the guest traps
// at its next loop iteration.
//
// Native code cannot be preempted by the Go scheduler, so a guest that never leaves it would
// also stall every stop-the-world pause of the host's garbage collector (and with it the very
// timer meant to stop it). Every 8192 loop iterations the check therefore leaves native code
// once, through memory.grow(0), which wazero serves in Go: a preemption point that costs
// ~30 ns per 8192 iterations.
//
// Why not wazero's WithCloseOnContextDone: it stops a guest by leaving native code for Go at
// every loop header, ~30 ns each. A Go wasip1 guest compiles every jump between basic blocks
// through its function's dispatch loop, so a small decision takes thousands of those exits:
// a 10 µs decision became 80 µs. The check added here is a load and a branch in native code.
// It is the same idea as wasmtime's epoch interruption.
//
// Only loops can run unboundedly in WebAssembly (recursion ends in a stack overflow trap), so
// checking every loop header bounds every call. An opcode this package does not know makes
// Instrument fail, so an unusual module is refused rather than left unguarded.
package interrupt

import (
	"errors"
	"fmt"
)

// Export is the name of the interrupt global added to the module.
const Export = "nanoclaw_interrupt"

// ErrMalformed reports a module Instrument cannot parse.
var ErrMalformed = errors.New("interrupt instrumentation")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Section ids.
const (
	secCustom   = 0
	secImport   = 2
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secCode     = 10
	importGlobl = 3
	externGlobl = 3
)

// Instrument returns a copy of module with the interrupt global and loop-header checks.
func Instrument(module []byte) ([]byte, error) {
	if len(module) < 8 || string(module[:4]) != "\x00asm" || string(module[4:8]) != "\x01\x00\x00\x00" {
		return nil, bad("not a WebAssembly 1.0 binary")
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	for r := (reader{b: module, i: 8}); !r.done(); {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, r.err
		}
		secs = append(secs, section{id, body})
	}
	// The new globals' indices: after every imported and defined global.
	var globals, memories uint32
	for _, s := range secs {
		switch s.id {
		case secImport:
			n, mems, err := countImports(s.body)
			if err != nil {
				return nil, err
			}
			globals += n
			memories += mems
		case secMemory:
			r := reader{b: s.body}
			memories += r.u32()
			if r.err != nil {
				return nil, r.err
			}
		case secGlobal:
			r := reader{b: s.body}
			globals += r.u32()
			if r.err != nil {
				return nil, r.err
			}
		}
	}
	idx := globals // the interrupt flag; idx+1 is the countdown to the next preemption point
	// (global (mut i32) (i32.const 0)) (global (mut i32) (i32.const yieldEvery))
	newGlobal := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B, 0x7F, 0x01, 0x41}
	newGlobal = appendS32(newGlobal, yieldEvery)
	newGlobal = append(newGlobal, 0x0B)
	newExport := appendName(nil, Export)
	newExport = append(newExport, externGlobl)
	newExport = appendU32(newExport, idx)

	out := append([]byte(nil), module[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	haveGlobal, haveExport := false, false
	for _, s := range secs {
		// Insert missing global/export sections in their place in the order.
		if !haveGlobal && order(s.id) > order(secGlobal) {
			emit(secGlobal, append([]byte{2}, newGlobal...))
			haveGlobal = true
		}
		if !haveExport && order(s.id) > order(secExport) {
			emit(secExport, appendU32(nil, 1, newExport...))
			haveExport = true
		}
		switch s.id {
		case secGlobal:
			body, err := appendVecItems(s.body, 2, newGlobal)
			if err != nil {
				return nil, err
			}
			emit(secGlobal, body)
			haveGlobal = true
		case secExport:
			if err := checkNoExport(s.body, Export); err != nil {
				return nil, err
			}
			body, err := appendVecItems(s.body, 1, newExport)
			if err != nil {
				return nil, err
			}
			emit(secExport, body)
			haveExport = true
		case secCode:
			body, err := instrumentCode(s.body, check(idx, memories > 0))
			if err != nil {
				return nil, err
			}
			emit(secCode, body)
		default:
			emit(s.id, s.body)
		}
	}
	if !haveGlobal {
		emit(secGlobal, append([]byte{2}, newGlobal...))
	}
	if !haveExport {
		emit(secExport, appendU32(nil, 1, newExport...))
	}
	return out, nil
}

// order is a section's place in the binary's required order (custom sections float).
func order(id byte) int {
	switch id {
	case 1, 2, 3, 4, 5:
		return int(id)
	case 13: // tag
		return 6
	case 6:
		return 7
	case 7:
		return 8
	case 8:
		return 9
	case 9:
		return 10
	case 12: // data count
		return 11
	case 10:
		return 12
	case 11:
		return 13
	}
	return 0 // custom: never forces an insertion
}

// countImports counts the imported globals and memories.
func countImports(body []byte) (globals, memories uint32, err error) {
	r := reader{b: body}
	n := r.u32()
	for range n {
		r.name()
		r.name()
		kind := r.byte()
		switch kind {
		case 0: // func: type index
			r.u32()
		case 1: // table: reftype + limits
			r.byte()
			r.limits()
		case 2: // memory: limits
			r.limits()
			memories++
		case importGlobl: // global: valtype + mut
			r.byte()
			r.byte()
			globals++
		case 4: // tag
			r.byte()
			r.u32()
		default:
			return 0, 0, bad("unknown import kind %d", kind)
		}
		if r.err != nil {
			return 0, 0, r.err
		}
	}
	return globals, memories, r.err
}

func checkNoExport(body []byte, name string) error {
	r := reader{b: body}
	n := r.u32()
	for range n {
		if string(r.name()) == name {
			return bad("module already exports %q", name)
		}
		r.byte()
		r.u32()
	}
	return r.err
}

// appendVecItems returns a vector section body with count more items (encoded in items) at
// its end.
func appendVecItems(body []byte, count uint32, items []byte) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := appendU32(nil, n+count)
	out = append(out, body[r.i:]...)
	return append(out, items...), nil
}

// yieldEvery is how many loop iterations pass between two preemption points.
const yieldEvery = 8192

// check is inserted at the head of every loop:
//
//	if (global.get $flag) { unreachable }
//	$count = $count - 1
//	if ($count == 0) { $count = yieldEvery; drop(memory.grow(0)) }
func check(flag uint32, memory bool) []byte {
	b := []byte{0x23}
	b = appendU32(b, flag)
	b = append(b, 0x04, 0x40, 0x00, 0x0B)
	if !memory {
		return b
	}
	count := flag + 1
	b = append(b, 0x23)
	b = appendU32(b, count)
	b = append(b, 0x41, 0x01, 0x6B, 0x24) // i32.const 1; i32.sub; global.set
	b = appendU32(b, count)
	b = append(b, 0x23)
	b = appendU32(b, count)
	b = append(b, 0x45, 0x04, 0x40, 0x41) // i32.eqz; if; i32.const
	b = appendS32(b, yieldEvery)
	b = append(b, 0x24)
	b = appendU32(b, count)
	return append(b, 0x41, 0x00, 0x40, 0x00, 0x1A, 0x0B) // i32.const 0; memory.grow 0; drop; end
}

func instrumentCode(body []byte, chk []byte) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := range n {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		var err error
		fn, err = instrumentFunc(fn[:0], code, chk)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.done() {
		return nil, bad("trailing bytes in the code section")
	}
	return out, nil
}

func instrumentFunc(out, code, chk []byte) ([]byte, error) {
	r := reader{b: code}
	locals := r.u32()
	for range locals {
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, r.err
	}
	out = append(out, code[:r.i]...)
	for !r.done() {
		start := r.i
		op := r.byte()
		isLoop := op == 0x03
		if err := skipImmediates(&r, op); err != nil {
			return nil, err
		}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, code[start:r.i]...)
		if isLoop {
			out = append(out, chk...)
		}
	}
	return out, nil
}

// skipImmediates advances past the immediates of op (already read).
func skipImmediates(r *reader, op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0B || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1:
		// unreachable nop else end return drop select ref.is_null
	case op == 0x02 || op == 0x03 || op == 0x04: // block loop if
		r.blockType()
	case op == 0x0C || op == 0x0D || op == 0x10 || op == 0x12 || op == 0xD2: // br br_if call return_call ref.func
		r.u32()
	case op == 0x0E: // br_table
		n := r.u32()
		for range n {
			r.u32()
		}
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		n := r.u32()
		for range n {
			r.byte()
		}
	case op >= 0x20 && op <= 0x26: // local.* global.* table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores: memarg
		align := r.u32()
		if align&0x40 != 0 {
			return bad("multi-memory is not supported")
		}
		r.u32()
	case op == 0x3F || op == 0x40: // memory.size memory.grow
		r.byte()
	case op == 0x41:
		r.s64()
	case op == 0x42:
		r.s64()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, no immediates
	case op == 0xD0: // ref.null
		r.byte()
	case op == 0xFC:
		sub := r.u32()
		switch {
		case sub <= 7: // saturating truncations
		case sub == 8: // memory.init
			r.u32()
			r.byte()
		case sub == 9 || sub == 13 || sub == 15 || sub == 16 || sub == 17: // data.drop elem.drop table.grow/size/fill
			r.u32()
		case sub == 10: // memory.copy
			r.byte()
			r.byte()
		case sub == 11: // memory.fill
			r.byte()
		case sub == 12 || sub == 14: // table.init table.copy
			r.u32()
			r.u32()
		default:
			return bad("unknown 0xFC opcode %d", sub)
		}
	default:
		return bad("unsupported opcode 0x%02x", op)
	}
	return nil
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) done() bool { return r.i >= len(r.b) || r.err != nil }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.i >= len(r.b) {
		r.err = bad("unexpected end at byte %d", r.i)
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.i {
		r.err = bad("length %d past the end at byte %d", n, r.i)
		return nil
	}
	b := r.b[r.i : r.i+n]
	r.i += n
	return b
}

func (r *reader) u32() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				r.err = bad("u32 overflow at byte %d", r.i)
				return 0
			}
			return uint32(v)
		}
	}
	r.err = bad("LEB128 too long at byte %d", r.i)
	return 0
}

func (r *reader) s64() {
	for n := 0; n < 10; n++ {
		c := r.byte()
		if r.err != nil || c&0x80 == 0 {
			return
		}
	}
	r.err = bad("LEB128 too long at byte %d", r.i)
}

func (r *reader) name() []byte { return r.bytes(int(r.u32())) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// blockType reads a block type: 0x40, a value type, or a signed 33-bit type index.
func (r *reader) blockType() {
	c := r.byte()
	if c == 0x40 || (c >= 0x6F && c <= 0x7F) {
		return
	}
	r.i--
	r.s64()
}

func appendU32(b []byte, v uint32, tail ...byte) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		b = append(b, c)
		return append(b, tail...)
	}
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
