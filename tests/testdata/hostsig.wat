;; hostsig: imports agent_ctl::net_connect with the wrong signature. agent-ctl
;; must refuse it before running (exit 126), naming the expected type.
(module
  (import "agent_ctl" "net_connect" (func $c (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
