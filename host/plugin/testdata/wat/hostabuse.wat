;; hostabuse: hands host functions pointers and lengths outside its memory, then answers normally; the host must refuse each call and keep running.
(module
  (import "nanoclaw" "log" (func $log (param i32 i32 i32))) (import "nanoclaw" "group_lookup" (func $lookup (param i32 i32 i32 i32) (result i32))) (import "nanoclaw" "kv_get" (func $kvget (param i32 i32 i32 i32) (result i32))) (import "nanoclaw" "kv_set" (func $kvset (param i32 i32 i32 i32) (result i32))) (import "nanoclaw" "config_read" (func $cfg (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "{\"allow\":true,\"readonly\":true,\"hostPath\":\"/x\",\"containerPath\":\"/workspace/extra/x\",\"reason\":\"wat\"}")
  (data (i32.const 1200) "{\"allow\":true,\"reason\":\"wat\"}")
  (data (i32.const 1300) "{\"action\":\"store\",\"reason\":\"wat\"}")
  ;; answer copies the verdict of the hook's kind (mount, ipc, route) into the mailbox
  (func $answer (param $hook i32) (result i64)
    (if (i32.eq (local.get $hook) (i32.const 1)) (then (memory.copy (i32.const 4096) (i32.const 1024) (i32.const 98)) (return (i64.const 98))))
    (if (i32.eq (local.get $hook) (i32.const 2)) (then (memory.copy (i32.const 4096) (i32.const 1200) (i32.const 29)) (return (i64.const 29))))
    (memory.copy (i32.const 4096) (i32.const 1300) (i32.const 33)) (i64.const 33))
  (func (export "policy_abi_version") (result i32) (i32.const 1))
  (func (export "policy_buf") (result i32) (i32.const 4096))
  (func (export "policy_buf_cap") (result i32) (i32.const 65536))
  (func (export "policy_call") (param $hook i32) (param $len i32) (result i64)
    (call $log (i32.const 2) (i32.const 0x7fffffff) (i32.const 100)) (call $log (i32.const 2) (i32.const 0) (i32.const -1)) (drop (call $lookup (i32.const 0x7ffffff0) (i32.const 64) (i32.const 0) (i32.const 16))) (drop (call $lookup (i32.const 1024) (i32.const 4) (i32.const 0x7fffff00) (i32.const 0x7fffffff))) (drop (call $kvset (i32.const 1024) (i32.const 4) (i32.const 0) (i32.const -1))) (drop (call $kvget (i32.const 1024) (i32.const 4) (i32.const -16) (i32.const 64))) (drop (call $cfg (i32.const 0x7fffffff) (i32.const 0x7fffffff))) (call $answer (local.get $hook)))
  )
