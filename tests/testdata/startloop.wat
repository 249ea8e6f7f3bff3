;; startloop: a start function that never returns. Instantiating it ahead of
;; the call must not hang the worker; the call itself meets its time limit.
(module
  (memory (export "memory") 1)
  (func $init (loop $l (br $l)))
  (start $init)
  (func (export "_start")))
