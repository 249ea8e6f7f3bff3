;; logs3: writes three lines to stderr ("log 1" .. "log 3") and "done\n" to
;; stdout; exit 0. The MCP server forwards stderr lines to a client that set
;; a log level as notifications/message.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "log 1\nlog 2\nlog 3\n")
  (data (i32.const 96) "done\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (call $write (i32.const 2) (i32.const 64) (i32.const 6))
    (call $write (i32.const 2) (i32.const 70) (i32.const 6))
    (call $write (i32.const 2) (i32.const 76) (i32.const 6))
    (call $write (i32.const 1) (i32.const 96) (i32.const 5))))
