package supervisor

import "golang.org/x/sys/unix"

// exited tells whether the worker process pid, a child of this process, has
// exited, reaped or not: a worker dies (SIGKILL, the OOM killer) some time
// before its reaper closes Exited. It asks the kernel through a pidfd and
// reaps nothing (WNOWAIT).
func exited(pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err == unix.ESRCH // reaped already
	}
	defer unix.Close(fd)
	var info unix.Siginfo
	err = unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo != 0 // a zombie: dead, not yet reaped
}
