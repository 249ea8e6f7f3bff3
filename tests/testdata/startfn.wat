;; startfn: a module with a start function (module code that runs during
;; instantiation) that prints "start ran\n", and a _start that prints
;; "main ran\n". agent-ctl instantiates modules ahead of the call when it can;
;; this one's start code must run exactly once, during the call, under its
;; limits: the output is "start ran\nmain ran\n".
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "start ran\n")
  (data (i32.const 32) "main ran\n")
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $init (call $print (i32.const 16) (i32.const 10)))
  (start $init)
  (func (export "_start") (call $print (i32.const 32) (i32.const 9))))
