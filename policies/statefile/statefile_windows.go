package statefile

import (
	"os"

	"golang.org/x/sys/windows"
)

// LockFile waits for and takes an exclusive lock (LockFileEx) on f, for a
// caller that keeps its lock file open across many locks (the audit log
// locks around each append) rather than opening one per change as Lock
// does. UnlockFile gives it up; closing f does too.
func LockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, ^uint32(0), ^uint32(0), &ol)
}

// UnlockFile gives up the lock LockFile took on f.
func UnlockFile(f *os.File) {
	var ol windows.Overlapped
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, ^uint32(0), ^uint32(0), &ol)
}

// SyncDir is a no-op on Windows: a directory cannot be opened for
// syncing there, and NTFS journals the rename itself.
func SyncDir(string) error { return nil }
