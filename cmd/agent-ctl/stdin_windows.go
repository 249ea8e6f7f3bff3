package main

import (
	"io"
	"os"

	"golang.org/x/sys/windows"
)

func moduleStdin(r io.Reader) io.Reader { return r }

// isTerminal reports whether r is a console, to ask the user a question.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) == nil
}
