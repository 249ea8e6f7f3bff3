//go:build !windows

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// killGroup makes cancelling cmd kill its whole process group: make's
// compilers with it, not make alone.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}
