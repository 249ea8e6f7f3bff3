;; hostilepanic: ends as a Go panic ends (a `panic: ` line on stderr, exit
;; code 2), with an OSC 52 clipboard write, a screen clear and a carriage
;; return in the panic's words: agent-ctl quotes the line and must show them
;; escaped.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; iovec at 0: the text at 16, 37 bytes long
  (data (i32.const 0) "\10\00\00\00\25\00\00\00")
  (data (i32.const 16) "panic: \1b]52;c;cHduZWQ=\07\1b[2Jfake\rline\n")
  (func $_start (export "_start")
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 2))))
