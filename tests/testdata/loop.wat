;; loop: WASI command whose _start spins forever with no calls; tests timeouts / epoch interruption / fuel.
(module
  (memory (export "memory") 1)
  (func $_start (export "_start")
    (loop $forever
      (br $forever))))
