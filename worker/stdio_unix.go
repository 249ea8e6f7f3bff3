//go:build !windows

package worker

import (
	"syscall"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// closeStdio closes the worker's copies of the module's stdio pipes.
func closeStdio() {
	for _, fd := range []int{protocol.FDStdin, protocol.FDStdout, protocol.FDStderr} {
		_ = syscall.Close(fd)
	}
}
