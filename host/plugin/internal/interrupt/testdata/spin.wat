(module
  (global $g (mut i32) (i32.const 7))
  (func (export "spin") (param $n i32) (result i32)
    (local $i i32)
    (block $out (loop $l
      (br_if $out (i32.eq (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i))
  (func (export "forever") (loop $l (br $l))))
