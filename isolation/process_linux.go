package isolation

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the worker's process group (the worker leads it); called
// only while the worker is not yet reaped, so the ID is still its own.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// exitWatch holds a pidfd of a process-isolated worker, opened right after
// its start (nothing can have reaped it yet), so that Kill can wait for its
// exit whether or not its reaper has run, and never for another process
// that took its ID.
type exitWatch struct{ fd int }

func watchExit(pid int) exitWatch {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return exitWatch{fd: -1}
	}
	return exitWatch{fd: fd}
}

// close releases the pidfd; called with the worker reaped.
func (w *exitWatch) close() {
	if w.fd >= 0 {
		_ = unix.Close(w.fd)
		w.fd = -1
	}
}

// waiter returns a function that waits until the worker has exited. It
// holds its own copy of the pidfd, so the reaper may close the watch
// meanwhile.
func (w *exitWatch) waiter() func(time.Duration) error {
	if w.fd < 0 {
		return nil
	}
	fd, err := unix.FcntlInt(uintptr(w.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return func(timeout time.Duration) error {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		deadline := time.Now().Add(timeout)
		for {
			n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
			switch {
			case n > 0:
				return nil
			case err == unix.EINTR:
				continue
			case err != nil:
				return fmt.Errorf("waiting for the killed worker: %w", err)
			case time.Now().After(deadline):
				return fmt.Errorf("worker still running %s after SIGKILL", timeout)
			}
		}
	}
}
