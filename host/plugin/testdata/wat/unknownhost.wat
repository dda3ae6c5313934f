;; unknownhost: imports a nanoclaw function that does not exist.
(module
  (import "nanoclaw" "exec" (func $exec (param i32 i32) (result i32)))
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
    (call $answer (local.get $hook)))
  )
