package isolation

import "syscall"

func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

// killGroup has nothing to do on Windows: the job object (with container
// isolation) owns the process tree.
func killGroup(int) {}
