package worker

import (
	"os"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// IsWorker reports whether args (os.Args) start this binary as a worker.
func IsWorker(args []string) bool {
	return len(args) > 1 && args[1] == protocol.WorkerArg
}

// Main serves one call as a worker process and returns its exit code. The
// engine is built while go-plugin completes its handshake.
func Main() int {
	// The module's stdio arrives as fds 3-5; the worker's own stdin is of no
	// use to anyone.
	os.Stdin.Close()
	restrictUmask()
	h := &Host{CloseStdio: true}
	go func() {
		h.Warm()
		protocol.WarmCodec()
	}()
	protocol.Serve(h)
	return 0
}
