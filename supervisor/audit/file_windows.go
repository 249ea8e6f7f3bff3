package audit

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// fileIno is a file's index on its volume, which a rotation changes.
func fileIno(fi os.FileInfo) uint64 {
	// os.SameFile holds the index, but FileInfo does not expose it: the
	// size and modification time stand in (a rotation starts a new, empty
	// file, so the size alone tells the chain to be read again).
	return uint64(fi.ModTime().UnixNano())
}

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

// openShared is os.OpenFile for the log's files (read only, or read and
// append, created if missing), opened so that another writer may rotate
// them while they are open: with FILE_SHARE_DELETE, which os.OpenFile
// does not give, Windows renames no file that another handle holds open,
// and a supervisor's writer or an `audit --follow` would keep every other
// writer from rotating.
func openShared(name string, flag int, perm os.FileMode) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	access, create := uint32(windows.GENERIC_READ), uint32(windows.OPEN_EXISTING)
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		// Appending, as os.OpenFile's O_APPEND: every right of
		// GENERIC_WRITE but FILE_WRITE_DATA, so each write goes to the end.
		access |= windows.FILE_APPEND_DATA | windows.FILE_WRITE_ATTRIBUTES | windows.FILE_WRITE_EA |
			windows.STANDARD_RIGHTS_WRITE | windows.SYNCHRONIZE
	}
	if flag&os.O_CREATE != 0 {
		create = windows.OPEN_ALWAYS
	}
	attrs := uint32(windows.FILE_ATTRIBUTE_NORMAL)
	if perm&0o200 == 0 && flag&os.O_CREATE != 0 {
		attrs = windows.FILE_ATTRIBUTE_READONLY
	}
	h, err := windows.CreateFile(p, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, create, attrs, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}
