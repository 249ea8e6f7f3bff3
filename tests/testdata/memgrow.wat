;; memgrow: grows memory one page at a time until memory.grow returns -1, then traps (unreachable); tests memory limits.
(module
  (memory (export "memory") 1)
  (func $_start (export "_start")
    (block $failed
      (loop $grow
        (br_if $failed
          (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    unreachable))
