//go:build !windows

package cliapp

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ModuleStdin is what the module reads as stdin: agent-ctl's own, except a
// terminal that agent-ctl does not hold in the foreground. Reading that
// would stop agent-ctl with SIGTTIN (`agent-ctl run x.wasm &` in a shell)
// even when the module never reads, so such a module gets an empty stdin.
func ModuleStdin(r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	if err != nil { // not a terminal
		return r
	}
	if pgrp != unix.Getpgrp() {
		return nil
	}
	return r
}
