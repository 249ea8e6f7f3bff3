package worker

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// noOpenat2 is set once openat2 answered ENOSYS: the worker's seccomp
// filter refuses it that way (it cannot look into its struct), so a
// confined worker walks every time.
var noOpenat2 atomic.Bool

// openGrant returns a descriptor of a granted directory: the one the worker
// inherited (process isolation: the directory the supervisor checked), or
// else (container isolation) the mount the supervisor made at d.Host,
// opened O_PATH without following a link. own says the caller must close it.
func openGrant(d protocol.Dir) (fd int, own bool, e protocol.Errno) {
	if d.FD > 0 {
		return d.FD, false, protocol.OK
	}
	fd, err := unix.Open(d.Host, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, fileErrno(err)
	}
	return fd, true, protocol.OK
}

// openBeneath opens the regular file at parts below dirfd, read-only or
// read-write, never following a symbolic link (nor /proc's magic links)
// and never leaving dirfd: openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_MAGICLINKS where it is allowed, else one openat(O_NOFOLLOW) a
// component. parts hold no "..", ".", or empty component (cleanRelative),
// so a walk of child entries without links stays below dirfd.
func openBeneath(dirfd int, parts []string, write bool) (int, protocol.Errno) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is then
	// refused as not a regular file. O_NOCTTY: a terminal never becomes
	// the worker's.
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	if write {
		flags = flags&^unix.O_RDONLY | unix.O_RDWR
	}
	fd := -1
	if !noOpenat2.Load() {
		var err error
		fd, err = unix.Openat2(dirfd, joinParts(parts), &unix.OpenHow{
			Flags:   uint64(flags),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.ENOSYS) {
			noOpenat2.Store(true)
			fd = -1
		} else if err != nil {
			return -1, fileErrno(err)
		}
	}
	if fd < 0 {
		var e protocol.Errno
		if fd, e = walkBeneath(dirfd, parts, flags); e != protocol.OK {
			return -1, e
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fileErrno(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, protocol.NotFile
	}
	return fd, protocol.OK
}

// walkBeneath is openBeneath without openat2: each directory component is
// opened O_PATH|O_NOFOLLOW from the one before and must be a directory; the
// last is opened with flags (O_NOFOLLOW: a link fails with ELOOP).
func walkBeneath(dirfd int, parts []string, flags int) (int, protocol.Errno) {
	cur := dirfd
	closeCur := func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}
	for _, c := range parts[:len(parts)-1] {
		next, err := unix.Openat(cur, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		closeCur()
		if err != nil {
			return -1, fileErrno(err)
		}
		cur = next
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			closeCur()
			return -1, fileErrno(err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			closeCur()
			return -1, protocol.Symlink
		default:
			closeCur()
			return -1, protocol.NoEnt
		}
	}
	fd, err := unix.Openat(cur, parts[len(parts)-1], flags, 0)
	closeCur()
	if err != nil {
		return -1, fileErrno(err)
	}
	return fd, protocol.OK
}

func joinParts(parts []string) string {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return string(b)
}

// fileErrno words a resolution or I/O error as the module's errno.
func fileErrno(err error) protocol.Errno {
	switch {
	case errors.Is(err, unix.ELOOP):
		return protocol.Symlink
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return protocol.NoEnt
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EROFS):
		return protocol.Denied
	case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		return protocol.NotFile
	case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
		return protocol.Limit
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENAMETOOLONG), errors.Is(err, unix.EINVAL):
		return protocol.Invalid
	}
	return protocol.IOError
}

// transferFD reads into p or writes p with one read(2) or write(2) on the
// calling thread: the kernel copies between the page cache and the
// module's memory directly.
func transferFD(fd int, p []byte, write bool) (int, protocol.Errno) {
	for {
		var n int
		var err error
		if write {
			n, err = unix.Write(fd, p)
		} else {
			n, err = unix.Read(fd, p)
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fileErrno(err)
		}
		return n, protocol.OK
	}
}

func closeFD(fd int) { unix.Close(fd) }
