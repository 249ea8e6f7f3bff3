//go:build linux && cgo

package isolation

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// prepareStateDir creates dir if needed and checks that only root controls
// it: other users must be able to pass through (the container's root lives
// below it and is built by the mapped, unprivileged root) but not write.
func prepareStateDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("container state directory %q: not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("creating container state directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("checking container state directory: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("container state directory %s: not a directory", dir)
	case st.Uid != 0:
		return fmt.Errorf("container state directory %s: owned by uid %d, not root", dir, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("container state directory %s: writable by others (mode %o)", dir, st.Mode&0o777)
	case st.Mode&0o001 == 0:
		return fmt.Errorf("container state directory %s: mode %o does not let the worker's user pass through (needs o+x)", dir, st.Mode&0o777)
	}
	return nil
}

// defaultStateDirs lists the state directories NewContainer tries when
// ContainerOptions.StateDir is empty, first to last (see stateDirsFor).
func defaultStateDirs() []string {
	return stateDirsFor(isTmpfs("/run"), isTmpfs("/dev/shm") && rootSticky("/dev/shm"))
}

// stateDirsFor lists the default state directory and what it falls back
// to, given whether /run is a tmpfs and whether /dev/shm is a tmpfs that
// only root controls. A start creates and removes a few dozen files and
// directories in the state directory (mount points in the worker's root,
// libcontainer's state and exec FIFO, the call's directory): microseconds
// each on a tmpfs, far more on a disk file system (docs/isolation.md,
// "Cleanup and the stale-state sweep"). /run is a tmpfs on most hosts;
// where it is not, /dev/shm (a tmpfs nearly everywhere) is used if only
// root can rename what root puts in it.
func stateDirsFor(runTmpfs, shmRootTmpfs bool) []string {
	if runTmpfs || !shmRootTmpfs {
		return []string{defaultStateDir}
	}
	return []string{shmStateDir, defaultStateDir}
}

// firstStateDir prepares the first of dirs that can be a state directory.
func firstStateDir(log *slog.Logger, dirs []string) (string, error) {
	var err error
	for _, d := range dirs {
		if err = prepareStateDir(d); err == nil {
			return d, nil
		}
		log.Warn("container state directory not usable", "dir", d, "error", err)
	}
	return "", err
}

func isTmpfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && (st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC)
}

// rootSticky tells whether dir belongs to root and, if others may write
// in it, has the sticky bit: then only root can rename or remove what root
// created there.
func rootSticky(dir string) bool {
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 {
		return false
	}
	return st.Mode&0o022 == 0 || st.Mode&unix.S_ISVTX != 0
}

// staleAge is how old a worker's directory must be before a sweep may take
// a container that never got going for the leftover of a dead supervisor,
// rather than one another supervisor is starting right now.
const staleAge = time.Minute

// sweep removes what supervisors that died (SIGKILL, power loss) left in
// the state directory: cgroups and directories of containers whose worker
// is gone. Workers still running, maybe another supervisor's, are left
// alone.
func (s *containerSpawner) sweep(stateDir string) {
	calls, _ := filepath.Glob(filepath.Join(stateDir, "call-*"))
	for _, dir := range calls {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		old := time.Since(fi.ModTime()) > staleAge
		ids, _ := os.ReadDir(filepath.Join(dir, "state"))
		gone := old
		if _, err := os.Stat(filepath.Join(dir, jailWorkerFile)); err == nil {
			// A jail worker was started: it is gone when its cgroups
			// are empty (it is their first process and lives in them
			// until it dies).
			gone = cgroupsEmpty(dir)
		}
		for _, id := range ids {
			c, err := libcontainer.Load(filepath.Join(dir, "state"), id.Name())
			if err != nil { // not started far enough to have saved its state
				continue
			}
			st, err := c.Status()
			switch {
			case err != nil || st == libcontainer.Running || st == libcontainer.Paused:
				gone = false
			case st == libcontainer.Stopped || old: // Created and old: its supervisor died mid-start
				if err := c.Destroy(); err != nil {
					s.log.Warn("stale container not removed", "container_id", id.Name(), "error", err)
					gone = false
					continue
				}
				gone = true
			}
		}
		if gone {
			if err := removeRecordedCgroups(dir); err != nil {
				s.log.Warn("stale container cgroups not removed", "dir", dir, "error", err)
				continue
			}
			_ = os.RemoveAll(dir)
			s.log.Info("removed a dead supervisor's container", "dir", dir)
		}
	}
}
