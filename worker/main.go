package worker

import (
	"fmt"
	"os"
	"runtime"

	"github.com/agent-ctl/agent-ctl/isolation/jail"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// Main serves one call as a worker process and returns its exit code. The
// engine is built while go-plugin completes its handshake.
func Main() int {
	// The jail's constructor removes its variable once it has confined
	// the worker. Still there means it did not act (see package jail):
	// a worker the supervisor meant to confine must not serve unconfined.
	if os.Getenv(jail.Env) != "" {
		fmt.Fprintf(os.Stderr, "worker: %s is set but the worker is not confined: refusing to serve\n", jail.Env)
		return 125
	}
	// The module's stdio arrives as fds 3-5 (named pipes on Windows); the
	// worker's own stdin is of no use to anyone.
	os.Stdin.Close()
	restrictUmask()
	// The worker spends long spells in cgo calls (the module's run,
	// closing its store after the reply) while its RPC goroutines must keep
	// moving: it needs a second P even on a one-CPU host, or they wait
	// until the runtime takes the P back from the cgo call.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
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
