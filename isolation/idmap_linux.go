//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// idmapKey is the owner of an ID-mapped mount's source: the mount shows it
// as the worker's user.
type idmapKey struct{ uid, gid uint32 }

// idmapUserns returns the path of a user namespace that maps uid and gid
// to the worker's host IDs, for an ID-mapped mount (MOUNT_ATTR_IDMAP takes
// the mapping from a user namespace). The kernel only makes a user
// namespace for a process, so given mappings libcontainer starts a dummy
// process for each one on every container start (a clone of the
// supervisor, stopped at its exec; docs/isolation.md, "ID-mapped mounts",
// has its cost). The spawner keeps one namespace per
// owner instead, open for its lifetime; no process stays in it. The path
// names the supervisor's own descriptor, which libcontainer opens from its
// mount thread, a thread of the supervisor that still sees the host's
// /proc.
func (s *containerSpawner) idmapUserns(uid, gid uint32) (string, error) {
	f, err := s.idmapUsernsFile(uid, gid)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd()), nil
}

// idmapUsernsFile is idmapUserns's namespace, open; the spawner owns it.
func (s *containerSpawner) idmapUsernsFile(uid, gid uint32) (*os.File, error) {
	k := idmapKey{uid, gid}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.userns[k]
	if !ok {
		var err error
		onSpawnThread(func() { f, err = newUserns(uid, gid, s.o.HostUID, s.o.HostGID) })
		if err != nil {
			return nil, fmt.Errorf("creating the user namespace of an ID-mapped mount: %w", err)
		}
		s.userns[k] = f
	}
	return f, nil
}

// newUserns makes a user namespace with a single mapping for each of uid
// and gid, as libcontainer would: a child in a new user namespace, stopped
// by ptrace before the executable runs, then killed once its namespace is
// open. Call it on a locked thread: a ptraced child is the thread's.
func newUserns(uid, gid uint32, hostUID, hostGID int) (*os.File, error) {
	p, err := os.StartProcess("/proc/self/exe", []string{"agent-ctl-userns"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: int(uid), HostID: hostUID, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: int(gid), HostID: hostGID, Size: 1}},
			Ptrace:      true,
			Pdeathsig:   syscall.SIGKILL,
		},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = p.Kill()
		_, _ = p.Wait()
	}()
	return os.Open(fmt.Sprintf("/proc/%d/ns/user", p.Pid))
}
