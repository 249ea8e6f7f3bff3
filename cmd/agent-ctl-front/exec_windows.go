package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
)

const exeSuffix = ".exe"

// execFull runs the full CLI with args and env as they are, and the same
// stdio, and returns its exit code: Windows has no exec. Ctrl-C reaches
// both processes; the full CLI answers it, so the front ignores it.
// (make cross ships agent-ctl.exe as the full CLI itself: this is for a
// front built for Windows all the same.)
func execFull(args, env []string, stderr io.Writer) int {
	full, err := fullPath()
	if err != nil {
		fmt.Fprintf(stderr, "agent-ctl: %s\n", err)
		return 125
	}
	signal.Ignore(os.Interrupt)
	cmd := exec.Command(full, args[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "agent-ctl: starting the full CLI %s: %s\n", full, err)
		return 125
	}
	return 0
}
