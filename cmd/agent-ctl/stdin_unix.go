//go:build !windows

package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// moduleStdin is what the module reads as stdin: agent-ctl's own, except a
// terminal that agent-ctl does not hold in the foreground. Reading that
// would stop agent-ctl with SIGTTIN (`agent-ctl run x.wasm &` in a shell)
// even when the module never reads, so such a module gets an empty stdin.
func moduleStdin(r io.Reader) io.Reader {
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

// isTerminal reports whether r is a terminal, to ask the user a question.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// terminalWidth is the number of columns of the terminal f, or 0 when f is
// not a terminal.
func terminalWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
