// Command agent-ctl runs WebAssembly (WASI preview 1) modules as commands,
// each call in a fresh, hardened worker process.
package main

import (
	"os"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/worker"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

func main() {
	// libcontainer re-executes this binary as each container's init; that
	// must be caught before anything else runs.
	isolation.Init()
	if protocol.IsWorker(os.Args) {
		os.Exit(worker.Main())
	}
	// Before any worker is spawned: no worker may inherit a descriptor
	// that this process was started with and did not mean to pass on.
	isolation.CloseInheritedFDs()
	ctx, stop := signalContext()
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
