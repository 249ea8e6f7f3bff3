;; trap: _start -> outer -> inner -> unreachable, with a name section (wat2wasm --debug-names) for backtraces.
(module
  (memory (export "memory") 1)
  (func $inner
    unreachable)
  (func $outer
    (call $inner))
  (func $_start (export "_start")
    (call $outer)))
