//go:build !windows

package worker

import (
	"syscall"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// openStdio has nothing to open: the module's stdio pipes are inherited as
// descriptors 3 to 5, which wasmtime opens as /proc/self/fd/N.
func openStdio(*Host) error { return nil }

// closeStdio closes the worker's copies of the module's stdio pipes.
func closeStdio() {
	for _, fd := range []int{protocol.FDStdin, protocol.FDStdout, protocol.FDStderr} {
		_ = syscall.Close(fd)
	}
}

// restrictUmask makes files and directories a module creates in a granted
// directory private to their owner (0600/0700): WASI preview 1 cannot set
// modes, so a module rewriting a 0600 secret must not leave it 0644.
func restrictUmask() { syscall.Umask(0o077) }

// ioErrno is the errno a failed write of the module's output reports when
// the writer's error carries none.
const ioErrno = syscall.EIO
