//go:build unix && !linux

package protocol

import "syscall"

// socketpair makes a stream socket pair, close-on-exec under the fork
// lock (these systems have no SOCK_CLOEXEC): os/exec's forks take it.
func socketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds, nil
}
