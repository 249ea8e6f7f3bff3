package worker

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// stdioFiles are the module's stdout and stderr pipes, which openStdio
// opens and closeStdio closes.
var stdioFiles []*os.File

// openStdio connects the worker to the named pipes the supervisor created
// for the module's stdio (see protocol.StdioPipesEnv). It opens stdout and
// stderr now, before the handshake, so that the supervisor can check
// they are this process's before the module writes a byte; the module's
// output is written to them through Host.Output. wasmtime opens stdin by
// name (Host.StdioPath) when the module runs.
func openStdio(h *Host) error {
	prefix := os.Getenv(protocol.StdioPipesEnv)
	if prefix == "" {
		return errors.New(protocol.StdioPipesEnv + " is not set (the supervisor names the module's stdio pipes in it)")
	}
	if !protocol.ValidPipePrefix(prefix) {
		return fmt.Errorf("%s=%q does not name agent-ctl's pipes", protocol.StdioPipesEnv, prefix)
	}
	out, err := os.OpenFile(protocol.PipeName(prefix, protocol.FDStdout), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	errOut, err := os.OpenFile(protocol.PipeName(prefix, protocol.FDStderr), os.O_WRONLY, 0)
	if err != nil {
		out.Close()
		return err
	}
	stdioFiles = []*os.File{out, errOut}
	h.StdioPath = func(fd int) string { return protocol.PipeName(prefix, fd) }
	h.Output = func(fd int) io.Writer {
		switch fd {
		case protocol.FDStdout:
			return out
		case protocol.FDStderr:
			return errOut
		}
		return nil
	}
	return nil
}

// closeStdio closes the module's stdout and stderr pipes, so that the
// supervisor sees their end as soon as Run returns. wasmtime closed stdin
// with the store.
func closeStdio() {
	for _, f := range stdioFiles {
		f.Close()
	}
	stdioFiles = nil
}

// restrictUmask has no equivalent on Windows: new files inherit the
// directory's ACL.
func restrictUmask() {}

// ioErrno is the error code a failed write of the module's output reports
// when the writer's error carries none: ERROR_WRITE_FAULT.
const ioErrno = syscall.Errno(29)
