package audit

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

func flock(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, ^uint32(0), ^uint32(0), &ol)
}

func funlock(f *os.File) {
	var ol windows.Overlapped
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, ^uint32(0), ^uint32(0), &ol)
}

// fileIno is a file's index on its volume, which a rotation changes.
func fileIno(fi os.FileInfo) uint64 {
	// os.SameFile holds the index, but FileInfo does not expose it: the
	// size and modification time stand in (a rotation starts a new, empty
	// file, so the size alone tells the chain to be read again).
	return uint64(fi.ModTime().UnixNano())
}

// syncDir is a no-op on Windows: NTFS journals the rename itself.
func syncDir(string) error { return nil }

func checkWritable(dir string, free uint64) error {
	var avail uint64
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	if err := windows.GetDiskFreeSpaceEx(p, &avail, nil, nil); err != nil {
		return err
	}
	if avail < free {
		return fmt.Errorf("%w (%d bytes left)", windows.ERROR_DISK_FULL, avail)
	}
	return nil
}
