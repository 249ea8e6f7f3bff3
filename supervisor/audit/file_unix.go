//go:build unix

package audit

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func fileIno(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// checkWritable refuses a directory on a read-only file system, one this
// process may not write (root passes permission bits, not a read-only
// mount), or one whose file system has less than free bytes left for it.
func checkWritable(dir string, free uint64) error {
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return unix.EROFS
	}
	if avail := uint64(st.Bavail) * uint64(st.Bsize); avail < free {
		return fmt.Errorf("%w (%d bytes left)", unix.ENOSPC, avail)
	}
	return nil
}

// openShared is os.OpenFile: on Unix a file open in one process can be
// renamed by another already.
func openShared(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
