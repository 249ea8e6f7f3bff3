package worker

import (
	"fmt"
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
	// The module's stdio arrives as fds 3-5 (named pipes on Windows); the
	// worker's own stdin is of no use to anyone.
	os.Stdin.Close()
	restrictUmask()
	h := &Host{CloseStdio: true}
	if err := openStdio(h); err != nil {
		fmt.Fprintf(os.Stderr, "worker: opening the module's stdio: %v\n", err)
		return 1
	}
	go func() {
		h.Warm()
		protocol.WarmCodec()
	}()
	protocol.Serve(h)
	return 0
}
