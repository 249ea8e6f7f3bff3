//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openCompiled opens the compile output in callDir without following a
// symbolic link, neither for the directory nor for the file, and returns it
// with its size if it is a regular file with one link. O_NONBLOCK keeps a
// FIFO from blocking the open (it is then refused as a FIFO); O_NOCTTY
// keeps a terminal from becoming the supervisor's. A confined worker cannot
// create device nodes (it has no CAP_MKNOD in the host's user namespace).
func openCompiled(callDir string) (*os.File, int64, error) {
	dfd, err := unix.Open(callDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("opening call directory: %w", err)
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, compiledName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, 0, fmt.Errorf("refusing %s: it is a symbolic link", compiledName)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", compiledName, &os.PathError{Op: "openat", Path: compiledName, Err: err})
	}
	f := os.NewFile(uintptr(fd), filepath.Join(callDir, compiledName))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("checking %s: %w", compiledName, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, 0, fmt.Errorf("refusing %s: %w: it is a %s", compiledName, errNotRegular, fileType(st.Mode))
	}
	if st.Nlink != 1 {
		f.Close()
		return nil, 0, fmt.Errorf("refusing %s: %w: it has %d links", compiledName, errNotRegular, st.Nlink)
	}
	return f, st.Size, nil
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return fmt.Sprintf("file of type %#o", mode&unix.S_IFMT)
}
