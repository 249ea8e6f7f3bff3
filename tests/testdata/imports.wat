;; imports: a command importing a non-WASI host function (env.evil_host_call); the host must refuse to link it.
(module
  (import "env" "evil_host_call" (func $evil_host_call))
  (memory (export "memory") 1)
  (func $_start (export "_start")
    (call $evil_host_call)))
