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

	"github.com/nanoclaw/nanoclaw-go/host/plugin/internal/wasmbin"
)

// Export is the name of the interrupt global added to the module.
const Export = "nanoclaw_interrupt"

// ErrMalformed reports a module Instrument cannot parse.
var ErrMalformed = errors.New("interrupt instrumentation")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Import and export kinds (section ids are wasmbin's).
const (
	importGlobl = 3
	externGlobl = 3
)

// Instrument returns a copy of module with the interrupt global and loop-header checks.
func Instrument(module []byte) ([]byte, error) {
	out, err := instrument(module)
	if err != nil && !errors.Is(err, ErrMalformed) {
		err = fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, err
}

func instrument(module []byte) ([]byte, error) {
	secs, err := wasmbin.Sections(module)
	if err != nil {
		return nil, err
	}
	// The new globals' indices: after every imported and defined global.
	var globals, memories uint32
	for _, s := range secs {
		switch s.ID {
		case wasmbin.SecImport:
			n, mems, err := countImports(s.Body)
			if err != nil {
				return nil, err
			}
			globals += n
			memories += mems
		case wasmbin.SecMemory:
			r := wasmbin.Reader{B: s.Body}
			memories += r.U32()
			if r.Err != nil {
				return nil, r.Err
			}
		case wasmbin.SecGlobal:
			r := wasmbin.Reader{B: s.Body}
			globals += r.U32()
			if r.Err != nil {
				return nil, r.Err
			}
		}
	}
	idx := globals // the interrupt flag; idx+1 is the countdown to the next preemption point
	// (global (mut i32) (i32.const 0)) (global (mut i32) (i32.const yieldEvery))
	newGlobal := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B, 0x7F, 0x01, 0x41}
	newGlobal = wasmbin.AppendS32(newGlobal, yieldEvery)
	newGlobal = append(newGlobal, 0x0B)
	newExport := wasmbin.AppendName(nil, Export)
	newExport = append(newExport, externGlobl)
	newExport = wasmbin.AppendU32(newExport, idx)

	out := append([]byte(nil), module[:8]...)
	emit := func(id byte, body []byte) { out = wasmbin.AppendSection(out, id, body) }
	haveGlobal, haveExport := false, false
	for _, s := range secs {
		// Insert missing global/export sections in their place in the order.
		if !haveGlobal && order(s.ID) > order(wasmbin.SecGlobal) {
			emit(wasmbin.SecGlobal, append([]byte{2}, newGlobal...))
			haveGlobal = true
		}
		if !haveExport && order(s.ID) > order(wasmbin.SecExport) {
			emit(wasmbin.SecExport, wasmbin.AppendU32(nil, 1, newExport...))
			haveExport = true
		}
		switch s.ID {
		case wasmbin.SecGlobal:
			body, err := appendVecItems(s.Body, 2, newGlobal)
			if err != nil {
				return nil, err
			}
			emit(wasmbin.SecGlobal, body)
			haveGlobal = true
		case wasmbin.SecExport:
			if err := checkNoExport(s.Body, Export); err != nil {
				return nil, err
			}
			body, err := appendVecItems(s.Body, 1, newExport)
			if err != nil {
				return nil, err
			}
			emit(wasmbin.SecExport, body)
			haveExport = true
		case wasmbin.SecCode:
			body, err := instrumentCode(s.Body, check(idx, memories > 0))
			if err != nil {
				return nil, err
			}
			emit(wasmbin.SecCode, body)
		default:
			emit(s.ID, s.Body)
		}
	}
	if !haveGlobal {
		emit(wasmbin.SecGlobal, append([]byte{2}, newGlobal...))
	}
	if !haveExport {
		emit(wasmbin.SecExport, wasmbin.AppendU32(nil, 1, newExport...))
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
	r := wasmbin.Reader{B: body}
	n := r.U32()
	for range n {
		r.Name()
		r.Name()
		kind := r.Byte()
		switch kind {
		case 0: // func: type index
			r.U32()
		case 1: // table: reftype + limits
			r.Byte()
			r.Limits()
		case 2: // memory: limits
			r.Limits()
			memories++
		case importGlobl: // global: valtype + mut
			r.Byte()
			r.Byte()
			globals++
		case 4: // tag
			r.Byte()
			r.U32()
		default:
			return 0, 0, bad("unknown import kind %d", kind)
		}
		if r.Err != nil {
			return 0, 0, r.Err
		}
	}
	return globals, memories, r.Err
}

func checkNoExport(body []byte, name string) error {
	r := wasmbin.Reader{B: body}
	n := r.U32()
	for range n {
		if string(r.Name()) == name {
			return bad("module already exports %q", name)
		}
		r.Byte()
		r.U32()
	}
	return r.Err
}

// appendVecItems returns a vector section body with count more items (encoded in items) at
// its end.
func appendVecItems(body []byte, count uint32, items []byte) ([]byte, error) {
	r := wasmbin.Reader{B: body}
	n := r.U32()
	if r.Err != nil {
		return nil, r.Err
	}
	out := wasmbin.AppendU32(nil, n+count)
	out = append(out, body[r.Pos:]...)
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
	b = wasmbin.AppendU32(b, flag)
	b = append(b, 0x04, 0x40, 0x00, 0x0B)
	if !memory {
		return b
	}
	count := flag + 1
	b = append(b, 0x23)
	b = wasmbin.AppendU32(b, count)
	b = append(b, 0x41, 0x01, 0x6B, 0x24) // i32.const 1; i32.sub; global.set
	b = wasmbin.AppendU32(b, count)
	b = append(b, 0x23)
	b = wasmbin.AppendU32(b, count)
	b = append(b, 0x45, 0x04, 0x40, 0x41) // i32.eqz; if; i32.const
	b = wasmbin.AppendS32(b, yieldEvery)
	b = append(b, 0x24)
	b = wasmbin.AppendU32(b, count)
	return append(b, 0x41, 0x00, 0x40, 0x00, 0x1A, 0x0B) // i32.const 0; memory.grow 0; drop; end
}

func instrumentCode(body []byte, chk []byte) ([]byte, error) {
	r := wasmbin.Reader{B: body}
	n := r.U32()
	out := wasmbin.AppendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := range n {
		size := r.U32()
		code := r.Bytes(int(size))
		if r.Err != nil {
			return nil, r.Err
		}
		var err error
		fn, err = instrumentFunc(fn[:0], code, chk)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = wasmbin.AppendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.Done() {
		return nil, bad("trailing bytes in the code section")
	}
	return out, nil
}

func instrumentFunc(out, code, chk []byte) ([]byte, error) {
	r := wasmbin.Reader{B: code}
	locals := r.U32()
	for range locals {
		r.U32()
		r.Byte()
	}
	if r.Err != nil {
		return nil, r.Err
	}
	out = append(out, code[:r.Pos]...)
	for !r.Done() {
		start := r.Pos
		op := r.Byte()
		isLoop := op == 0x03
		if err := skipImmediates(&r, op); err != nil {
			return nil, err
		}
		if r.Err != nil {
			return nil, r.Err
		}
		out = append(out, code[start:r.Pos]...)
		if isLoop {
			out = append(out, chk...)
		}
	}
	return out, nil
}

// skipImmediates advances past the immediates of op (already read).
func skipImmediates(r *wasmbin.Reader, op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0B || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1:
		// unreachable nop else end return drop select ref.is_null
	case op == 0x02 || op == 0x03 || op == 0x04: // block loop if
		r.BlockType()
	case op == 0x0C || op == 0x0D || op == 0x10 || op == 0x12 || op == 0xD2: // br br_if call return_call ref.func
		r.U32()
	case op == 0x0E: // br_table
		n := r.U32()
		for range n {
			r.U32()
		}
		r.U32()
	case op == 0x11 || op == 0x13: // call_indirect return_call_indirect
		r.U32()
		r.U32()
	case op == 0x1C: // select t*
		n := r.U32()
		for range n {
			r.Byte()
		}
	case op >= 0x20 && op <= 0x26: // local.* global.* table.get/set
		r.U32()
	case op >= 0x28 && op <= 0x3E: // loads and stores: memarg
		align := r.U32()
		if align&0x40 != 0 {
			return bad("multi-memory is not supported")
		}
		r.U32()
	case op == 0x3F || op == 0x40: // memory.size memory.grow
		r.Byte()
	case op == 0x41:
		r.S64()
	case op == 0x42:
		r.S64()
	case op == 0x43:
		r.Bytes(4)
	case op == 0x44:
		r.Bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, no immediates
	case op == 0xD0: // ref.null
		r.Byte()
	case op == 0xFC:
		sub := r.U32()
		switch {
		case sub <= 7: // saturating truncations
		case sub == 8: // memory.init
			r.U32()
			r.Byte()
		case sub == 9 || sub == 13 || sub == 15 || sub == 16 || sub == 17: // data.drop elem.drop table.grow/size/fill
			r.U32()
		case sub == 10: // memory.copy
			r.Byte()
			r.Byte()
		case sub == 11: // memory.fill
			r.Byte()
		case sub == 12 || sub == 14: // table.init table.copy
			r.U32()
			r.U32()
		default:
			return bad("unknown 0xFC opcode %d", sub)
		}
	default:
		return bad("unsupported opcode 0x%02x", op)
	}
	return nil
}
