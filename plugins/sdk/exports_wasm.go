//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
)

// mailbox is the buffer requests arrive in and verdicts leave through (plugins/ABI.md).
var mailbox [BufferSize]byte

// scratch holds the verdict while it is built, because the request it is decided from still
// aliases the mailbox.
var scratch = make([]byte, 0, BufferSize)

//go:wasmexport policy_abi_version
func policyABIVersion() int32 { return abi.Version }

//go:wasmexport policy_buf
func policyBuf() int32 { return int32(uintptr(unsafe.Pointer(&mailbox[0]))) }

//go:wasmexport policy_buf_cap
func policyBufCap() int32 { return BufferSize }

//go:wasmexport policy_call
func policyCall(hook, n int32) int64 {
	if n < 0 || int(n) > len(mailbox) {
		return int64(abi.StatusError) << 32
	}
	status, reply := Dispatch(abi.Hook(hook), mailbox[:n], scratch)
	if len(reply) > len(mailbox) {
		return int64(abi.StatusTooLarge)<<32 | int64(len(reply))
	}
	copy(mailbox[:], reply)
	if cap(reply) > cap(scratch) {
		scratch = reply[:0] // keep the grown buffer
	}
	return int64(status)<<32 | int64(len(reply))
}
