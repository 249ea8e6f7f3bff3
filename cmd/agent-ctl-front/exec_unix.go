//go:build unix

package main

import (
	"fmt"
	"io"
	"syscall"
)

const exeSuffix = ""

// execFull replaces this process with the full CLI, with args and env as
// they are: the same process, its stdio, its signals and its exit code.
// It returns only when that fails, with the exit code of the message it
// printed.
func execFull(args, env []string, stderr io.Writer) int {
	full, err := fullPath()
	if err == nil {
		err = syscall.Exec(full, args, env)
		err = fmt.Errorf("starting the full CLI %s: %w", full, err)
	}
	fmt.Fprintf(stderr, "agent-ctl: %s\n", err)
	return 125
}
