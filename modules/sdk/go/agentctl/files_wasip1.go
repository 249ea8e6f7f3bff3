package agentctl

import (
	"errors"
	"syscall"
)

// NotGranted reports whether err, from a path operation, means the path is
// outside the operator's grants: with no preopened directory to resolve it
// against, WASI answers EBADF.
func NotGranted(err error) bool { return errors.Is(err, syscall.EBADF) }
