;; hostimports: imports an agent_ctl function that does not exist. agent-ctl
;; must refuse it before running (exit 126), naming the import.
(module
  (import "agent_ctl" "exec" (func $exec (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
