package statefile

import (
	"os"

	"golang.org/x/sys/windows"
)

func lockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, ^uint32(0), ^uint32(0), &ol)
}

// SyncDir is a no-op on Windows: a directory cannot be opened for
// syncing there, and NTFS journals the rename itself.
func SyncDir(string) error { return nil }
