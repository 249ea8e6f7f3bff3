//go:build !linux && !windows

package isolation

import (
	"syscall"
	"time"
)

func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// exitWatch: Kill does not wait for the worker's exit here.
type exitWatch struct{}

func watchExit(int) exitWatch                        { return exitWatch{} }
func (*exitWatch) close()                            {}
func (*exitWatch) waiter() func(time.Duration) error { return nil }
