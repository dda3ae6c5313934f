;; loop: every call spins forever; only the deadline stops it.
(module
  
  (memory (export "memory") 2)
  (data (i32.const 1024) "{\"allow\":true,\"readonly\":true,\"hostPath\":\"/x\",\"containerPath\":\"/workspace/extra/x\",\"action\":\"store\",\"reason\":\"wat\"}")
  (func (export "policy_abi_version") (result i32) (i32.const 1))
  (func (export "policy_buf") (result i32) (i32.const 4096))
  (func (export "policy_buf_cap") (result i32) (i32.const 65536))
  (func (export "policy_call") (param $hook i32) (param $len i32) (result i64)
    (loop $l (br $l)) (i64.const 0))
  )
