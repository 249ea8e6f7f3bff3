package main

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/agent-ctl/agent-ctl/supervisor"
)

// installExit picks the exit code of a failed install: a full disk (or
// quota) is the host's condition, not the module's, so it is agent-ctl's
// own error (125), said plainly; anything else is the module's or its
// manifest's (126).
func installExit(w io.Writer, home string, err error) int {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		fmt.Fprintf(w, "agent-ctl: the disk holding %s is full: free some space and install again\n", home)
		return supervisor.ExitInternal
	}
	return supervisor.ExitInvalid
}
