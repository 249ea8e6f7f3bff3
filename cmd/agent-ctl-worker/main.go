// Command agent-ctl-worker is the worker process that agent-ctl spawns for
// each call. It is the same worker that agent-ctl itself becomes when run
// with its hidden worker argument, in a smaller binary without the CLI, so
// it starts faster; agent-ctl uses it when it sits beside agent-ctl.
package main

import (
	"os"

	_ "github.com/agent-ctl/agent-ctl/isolation/jail" // confines the worker before Go starts, when the supervisor asks
	"github.com/agent-ctl/agent-ctl/worker"
)

func main() { os.Exit(worker.Main()) }
