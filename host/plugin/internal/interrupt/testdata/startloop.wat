(module (func $f (loop $l (br $l))) (start $f))
