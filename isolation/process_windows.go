package isolation

import "syscall"

func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
