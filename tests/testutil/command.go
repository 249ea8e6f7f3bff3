package testutil

import (
	"io"
	"os/exec"
	"testing"
)

// Pipes says which of a command's standard streams StartPiped connects to
// the test.
type Pipes struct{ Stdin, Stdout, Stderr bool }

// Piped holds the test's ends of the pipes StartPiped made; a stream that
// was not asked for is nil.
type Piped struct {
	Stdin  io.WriteCloser
	Stdout io.ReadCloser
	Stderr io.ReadCloser
}

// StartPiped starts cmd with a pipe to each stream in want, failing the
// test if it cannot, and kills and reaps the command when the test ends,
// so that a test that fails half-way leaves no process behind. A test that
// waits for the command itself may: the cleanup then finds it gone.
func StartPiped(tb testing.TB, cmd *exec.Cmd, want Pipes) Piped {
	tb.Helper()
	var p Piped
	var err error
	if want.Stdin {
		if p.Stdin, err = cmd.StdinPipe(); err != nil {
			tb.Fatal(err)
		}
	}
	if want.Stdout {
		if p.Stdout, err = cmd.StdoutPipe(); err != nil {
			tb.Fatal(err)
		}
	}
	if want.Stderr {
		if p.Stderr, err = cmd.StderrPipe(); err != nil {
			tb.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}
