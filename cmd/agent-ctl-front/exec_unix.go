//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
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

// raise ends this process with sig, its default action restored.
func raise(sig os.Signal) {
	signal.Reset(sig)
	_ = syscall.Kill(os.Getpid(), signalNumber(sig))
	select {} // the signal is delivered
}
