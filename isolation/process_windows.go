package isolation

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

// killGroup has nothing to do on Windows: the job object (with container
// isolation) owns the process tree.
func killGroup(int) {}

// exitWatch holds a handle of a process-isolated worker, opened right after
// its start, so that Kill can wait until the terminated worker is gone
// (termination is asynchronous).
type exitWatch struct{ h windows.Handle }

func watchExit(pid int) exitWatch {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return exitWatch{}
	}
	return exitWatch{h: h}
}

// close releases the handle; called with the worker reaped.
func (w *exitWatch) close() {
	if w.h != 0 {
		_ = windows.CloseHandle(w.h)
		w.h = 0
	}
}

// waiter returns a function that waits until the worker has exited, on its
// own copy of the handle, so the reaper may close the watch meanwhile.
func (w *exitWatch) waiter() func(time.Duration) error {
	if w.h == 0 {
		return nil
	}
	self := windows.CurrentProcess()
	var h windows.Handle
	if err := windows.DuplicateHandle(self, w.h, self, &h, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return nil
	}
	return func(timeout time.Duration) error {
		defer windows.CloseHandle(h)
		return waitExited(h, timeout)
	}
}

// waitExited waits at most timeout until the process behind h, a worker
// just terminated, has exited: termination is asynchronous, and a caller
// that removes what the worker used right after Kill must find it gone.
func waitExited(h windows.Handle, timeout time.Duration) error {
	ev, err := windows.WaitForSingleObject(h, uint32(timeout/time.Millisecond))
	switch {
	case err != nil:
		return fmt.Errorf("waiting for the killed worker: %w", err)
	case ev == uint32(windows.WAIT_TIMEOUT):
		return fmt.Errorf("worker still running %s after it was terminated", timeout)
	}
	return nil
}
