package isolation

import "syscall"

func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the worker's process group (the worker leads it); called
// only while the worker is not yet reaped, so the ID is still its own.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
