//go:build unix

package statefile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// LockFile waits for and takes an exclusive flock on f, for a caller
// that keeps its lock file open across many locks (the audit log locks
// around each append) rather than opening one per change as Lock does.
// UnlockFile gives it up; closing f does too.
func LockFile(f *os.File) error {
	for {
		// A signal (the Go runtime sends them to preempt) interrupts the
		// wait; the lock is still wanted.
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// UnlockFile gives up the lock LockFile took on f.
func UnlockFile(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// SyncDir makes the renames and creations in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
