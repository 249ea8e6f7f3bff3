//go:build unix

package statefile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// open opens path read-only with O_NONBLOCK (a named pipe opens at once,
// writer or not), O_NOCTTY and O_CLOEXEC, and without following a final
// symbolic link unless follow; it fstats the descriptor and refuses all
// but a regular file, then clears O_NONBLOCK so that the file reads as
// any other.
func open(path string, follow bool) (*os.File, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		// A socket cannot be opened (ENXIO), nor a final link with
		// O_NOFOLLOW (ELOOP): say what the file is, if that is why.
		if errors.Is(err, unix.ENXIO) || (!follow && errors.Is(err, unix.ELOOP)) {
			stat := os.Stat
			if !follow {
				stat = os.Lstat
			}
			if fi, serr := stat(path); serr == nil {
				if nerr := notRegular(path, fi.Mode()); nerr != nil {
					return nil, nerr
				}
			}
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, notRegular(path, modeType(st.Mode))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// modeType is the os.FileMode type of a stat mode that is not a regular
// file's.
func modeType(m uint32) os.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFIFO:
		return os.ModeNamedPipe
	case unix.S_IFSOCK:
		return os.ModeSocket
	case unix.S_IFCHR:
		return os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		return os.ModeDevice
	case unix.S_IFDIR:
		return os.ModeDir
	case unix.S_IFLNK:
		return os.ModeSymlink
	}
	return os.ModeIrregular
}
