//go:build linux && cgo

package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation/jail"
	"golang.org/x/sys/unix"
)

// plannedMount is one bind mount of a worker's root.
type plannedMount struct {
	src, dst              string
	writable, exec, idmap bool
	socket                bool     // go-plugin's socket directory
	dir                   bool     // the source is a directory
	uid, gid              uint32   // the source's owner, for an ID mapping
	file                  *os.File // the source, open (Mount.File); nil: by name
	dev, ino              uint64   // what the source is, to check the mount against
}

// planMounts lists the bind mounts of a worker's root, parents before
// children: the executable and its libraries, go-plugin's socket directory,
// then the Spec's.
func (s *containerSpawner) planMounts(spec *Spec) ([]plannedMount, error) {
	if !filepath.IsAbs(spec.Path) {
		return nil, fmt.Errorf("worker executable %q: not an absolute path", spec.Path)
	}
	var ws []plannedMount
	if s.o.Engine == EngineLibcontainer {
		// libcontainer's init executes the worker from inside the root:
		// the executable and its libraries must be there. They keep host
		// ownership: they are world-readable, and mapping their owner
		// would only add work. (The jail executes the worker before it
		// builds the root.)
		ws = append(ws, plannedMount{src: spec.Path, dst: spec.Path, exec: true})
		libs, err := s.libraryDirs(spec.Path)
		if err != nil {
			return nil, err
		}
		for _, d := range libs {
			ws = append(ws, plannedMount{src: d, dst: d, exec: true})
		}
	}
	for _, e := range spec.Env {
		if v, ok := strings.CutPrefix(e, pluginSocketDirEnv+"="); ok && v != "" {
			ws = append(ws, plannedMount{src: v, dst: v, writable: true, idmap: true, socket: true})
		}
	}
	for _, m := range spec.Mounts {
		dst := m.Target
		if dst == "" {
			dst = m.Source
		}
		if m.Exec && (m.File == nil || m.Writable) {
			return nil, fmt.Errorf("mount %s: %w", m.Source, errExecMount)
		}
		ws = append(ws, plannedMount{src: m.Source, dst: dst, writable: m.Writable, idmap: true, file: m.File, exec: m.Exec})
	}

	seen := map[string]plannedMount{}
	var out []plannedMount
	for _, w := range ws {
		if !filepath.IsAbs(w.src) || !filepath.IsAbs(w.dst) {
			return nil, fmt.Errorf("mount %s at %s: paths must be absolute", w.src, w.dst)
		}
		w.src, w.dst = filepath.Clean(w.src), filepath.Clean(w.dst)
		if w.dst == "/" || under(w.dst, "/proc") || under(w.dst, "/dev") {
			return nil, fmt.Errorf("mount %s at %s: target is reserved", w.src, w.dst)
		}
		var st unix.Stat_t
		if w.file != nil {
			// What was checked is what is mounted, and its owner is
			// what the mount maps: all from the one descriptor.
			if err := unix.Fstat(int(w.file.Fd()), &st); err != nil {
				return nil, fmt.Errorf("mount %s: %w", w.src, &os.PathError{Op: "fstat", Path: w.src, Err: err})
			}
		} else if err := unix.Stat(w.src, &st); err != nil {
			return nil, fmt.Errorf("mount %s: %w", w.src, &os.PathError{Op: "stat", Path: w.src, Err: err})
		}
		w.dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
		if w.exec && w.file != nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			// Only a spec's mount has a file: the executable's and the
			// libraries' are the spawner's own, by name.
			return nil, fmt.Errorf("mount %s: %w", w.src, errExecMount)
		}
		w.uid, w.gid = st.Uid, st.Gid
		w.dev, w.ino = uint64(st.Dev), st.Ino
		if prev, ok := seen[w.dst]; ok {
			// The same source twice (one directory granted at two guest
			// paths) is one mount.
			if prev.src == w.src && prev.dev == w.dev && prev.ino == w.ino && prev.writable == w.writable &&
				prev.exec == w.exec && prev.idmap == w.idmap && prev.socket == w.socket {
				continue
			}
			return nil, fmt.Errorf("mount %s at %s: target already mounted from %s", w.src, w.dst, prev.src)
		}
		seen[w.dst] = w
		out = append(out, w)
	}
	// A mount hides what an earlier one put below its target.
	slices.SortStableFunc(out, func(a, b plannedMount) int {
		return strings.Count(a.dst, "/") - strings.Count(b.dst, "/")
	})
	return out, nil
}

// errExecMount is why a Spec's mount that asks for Exec is refused.
var errExecMount = errors.New("only a read-only regular file given as a descriptor may be mapped executable")

// mountAttr is what a planned mount allows, as mount_setattr(2) flags.
func (w plannedMount) mountAttr() uint64 {
	attr := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if !w.exec {
		attr |= unix.MOUNT_ATTR_NOEXEC
	}
	if !w.writable {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	return attr
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

type libCacheEntry struct {
	mod  time.Time
	size int64
	dirs []string
}

// libraryDirs returns the directories to mount for exe's shared libraries,
// cached per executable until it changes.
func (s *containerSpawner) libraryDirs(exe string) ([]string, error) {
	if s.o.LibraryDirs != nil {
		return s.o.LibraryDirs, nil
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return nil, fmt.Errorf("worker executable: %w", err)
	}
	s.mu.Lock()
	e, ok := s.libs[exe]
	s.mu.Unlock()
	if ok && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.dirs, nil
	}
	dirs, err := elfLibraryDirs(exe)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.libs[exe] = libCacheEntry{mod: fi.ModTime(), size: fi.Size(), dirs: dirs}
	s.mu.Unlock()
	return dirs, nil
}

// access is what Landlock lets the worker do below planned mount w.
func (w plannedMount) access() jail.Access {
	switch {
	case w.socket:
		return jail.Sockets
	case w.writable:
		return jail.ReadWrite
	}
	return jail.ReadOnly
}

// detachedMount makes planned mount w as a detached mount tree, with its
// flags and, if it asks for one, its ID mapping set.
func (s *containerSpawner) detachedMount(w plannedMount) (*os.File, error) {
	var ns *os.File
	if w.idmap {
		var err error
		if ns, err = s.idmapUsernsFile(w.uid, w.gid); err != nil {
			return nil, err
		}
	}
	if w.file != nil {
		return openMountFile(w.src, w.file, w.dir, w.mountAttr(), ns)
	}
	return openMount(w.src, w.dir, w.mountAttr(), ns)
}

// openMount clones the mount tree at src (open_tree) and sets attr on all
// of it, with the ID mapping of user namespace ns if not nil.
func openMount(src string, recursive bool, attr uint64, ns *os.File) (*os.File, error) {
	return openTree(unix.AT_FDCWD, src, src, 0, recursive, attr, ns)
}

// openMountFile is openMount of the file open as f (named src in
// messages): the tree is cloned from the descriptor, not by name.
func openMountFile(src string, f *os.File, recursive bool, attr uint64, ns *os.File) (*os.File, error) {
	return openTree(int(f.Fd()), "", src, unix.AT_EMPTY_PATH, recursive, attr, ns)
}

func openTree(dirfd int, path, src string, atFlags int, recursive bool, attr uint64, ns *os.File) (*os.File, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | atFlags
	setFlags := unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(dirfd, path, uint(flags))
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", src, &os.PathError{Op: "open_tree", Path: src, Err: err})
	}
	ma := &unix.MountAttr{Attr_set: attr}
	if ns != nil {
		ma.Attr_set |= unix.MOUNT_ATTR_IDMAP
		ma.Userns_fd = uint64(ns.Fd())
	}
	if err := unix.MountSetattr(fd, "", uint(setFlags), ma); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s: %w", src, &os.PathError{Op: "mount_setattr", Path: src, Err: err})
	}
	return os.NewFile(uintptr(fd), "mount:"+src), nil
}
