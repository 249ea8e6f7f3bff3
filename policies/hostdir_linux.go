//go:build linux

package policies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// openHostDir opens the directory at path (absolute, not cleaned) as an
// O_PATH descriptor without following a symlink in any component, and
// returns its clean path. Root opens grants: following a link that someone
// else planted, or that a module planted in a writable grant, would hand
// over whatever it points to; and a name checked and later opened again can
// be swapped in between (rename(2) RENAME_EXCHANGE), so the descriptor is
// opened once and everything after works on it.
func openHostDir(path string) (string, *os.File, error) {
	f, err := openNoFollow(path)
	if err != nil {
		switch {
		case errors.Is(err, unix.ELOOP):
			link := firstSymlink(path)
			if link == "" {
				link = path
			}
			return "", nil, fmt.Errorf("%w: directory %s: %s is a symbolic link; grant the real path (agent-ctl never follows links in a grant)", ErrInvalid, path, link)
		case errors.Is(err, unix.ENOENT):
			return "", nil, fmt.Errorf("%w: directory %s does not exist on the host", ErrInvalid, path)
		case errors.Is(err, unix.ENOTDIR):
			return "", nil, fmt.Errorf("%w: %s is not a directory", ErrInvalid, path)
		}
		return "", nil, fmt.Errorf("%w: directory %s: %w", ErrInvalid, path, err)
	}
	// With no link in any component, ".." names the lexical parent: the
	// clean path is the directory's real path.
	return filepath.Clean(path), f, nil
}

// openNoFollow opens path as an O_PATH directory, refusing symlinks (and
// /proc's magic links) in every component with ELOOP: openat2 where the
// kernel has it (5.6), a walk one component at a time otherwise.
func openNoFollow(path string) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		return walkNoFollow(path)
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// walkNoFollow is openNoFollow for kernels without openat2: each component
// is opened O_PATH|O_NOFOLLOW from the one before, and must be a directory
// (O_NOFOLLOW opens a symlink itself, which then fails the check).
func walkNoFollow(path string) (*os.File, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, &os.PathError{Op: "open", Path: path, Err: unix.EINVAL}
	}
	const flags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open("/", flags|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	for _, c := range strings.Split(path, "/") {
		if c == "" || c == "." {
			continue
		}
		next, err := unix.Openat(fd, c, flags, 0)
		unix.Close(fd)
		if err != nil {
			return nil, &os.PathError{Op: "openat", Path: path, Err: err}
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			unix.Close(fd)
			return nil, &os.PathError{Op: "openat", Path: path, Err: unix.ELOOP}
		default:
			unix.Close(fd)
			return nil, &os.PathError{Op: "openat", Path: path, Err: unix.ENOTDIR}
		}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// firstSymlink names the first component of path that is a symbolic link,
// for the message only (the refusal does not depend on it).
func firstSymlink(path string) string {
	cur := ""
	for _, c := range strings.Split(path, "/") {
		if c == "" {
			continue
		}
		cur = filepath.Join("/", cur, c)
		if fi, err := os.Lstat(cur); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return cur
		}
	}
	return ""
}

// fileID is what a directory is, whatever it is called.
type fileID struct{ dev, ino uint64 }

func (id fileID) String() string { return fmt.Sprintf("%d:%d", id.dev, id.ino) }

func fstatID(fd int) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

// maxDepth bounds a walk up a directory tree.
const maxDepth = 4096

// chain lists the directory open as fd and every directory above it up to
// the root, by identity, following ".." as the kernel does (across mounts).
// One fstatat of "../../.." per level: a third of the system calls of
// opening each parent.
func chain(fd int) ([]fileID, error) {
	id, err := fstatID(fd)
	if err != nil {
		return nil, err
	}
	ids := []fileID{id}
	up := ".."
	for range maxDepth {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, up, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, err
		}
		id := fileID{uint64(st.Dev), st.Ino}
		if id == ids[len(ids)-1] { // the root is its own parent
			return ids, nil
		}
		ids = append(ids, id)
		up += "/.."
	}
	return nil, errors.New("directory tree too deep")
}

// hostIDs are the identities of /, /proc, /sys and /dev, found once: a
// supervisor's root and its host file systems stay where they are.
var hostIDs = sync.OnceValue(func() map[string]fileID {
	ids := map[string]fileID{}
	for _, p := range append([]string{"/"}, hostPaths...) {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			ids[p] = fileID{uint64(st.Dev), st.Ino}
		}
	}
	return ids
})

// checkHostDir refuses the directory open as f (whose path is real) if it
// is, or lies below, one that hands over the host (/, /proc, /sys, /dev) or
// a protected directory, or if it is a parent of a protected directory. It
// compares identities (device and inode), not names: another name for the
// same directory (a bind mount, a hard alias) is refused too. It returns
// f's identity.
func checkHostDir(f *os.File, real string, protected []string) (string, error) {
	// By name first, for the plainest message; the protected directories
	// are compared below, by identity only.
	if err := CheckHostPath(real); err != nil {
		return "", err
	}
	grant, err := chain(int(f.Fd()))
	if err != nil {
		return "", fmt.Errorf("%w: directory %s: %w", ErrInvalid, real, err)
	}
	host := hostIDs()
	if root, ok := host["/"]; ok && grant[0] == root {
		return "", fmt.Errorf("%w: granting %s would hand over the host (it is /)", ErrInvalid, real)
	}
	for _, p := range hostPaths {
		if id, ok := host[p]; ok && containsID(grant, id) {
			return "", fmt.Errorf("%w: granting %s would hand over the host (it is %s or below it; %s is never granted)", ErrInvalid, real, p, p)
		}
	}
	for _, p := range protected {
		if p == "" {
			continue
		}
		// The protected directory is the operator's own setting: its name
		// is followed, links and all.
		pf, err := os.OpenFile(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // not there: nothing to expose
		}
		prot, err := chain(int(pf.Fd()))
		pf.Close()
		if err != nil {
			return "", fmt.Errorf("%w: checking %s against %s: %w", ErrInvalid, real, p, err)
		}
		if containsID(grant, prot[0]) || containsID(prot, grant[0]) {
			return "", fmt.Errorf("%w: granting %s would expose agent-ctl's own state in %s (it is that directory, below it or above it)", ErrInvalid, real, p)
		}
	}
	return grant[0].String(), nil
}

func containsID(ids []fileID, id fileID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
