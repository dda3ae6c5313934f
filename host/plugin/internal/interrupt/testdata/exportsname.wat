(module (global (export "nanoclaw_interrupt") i32 (i32.const 0)))
