//go:build linux && cgo

package isolation

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The workers' host IDs must belong to nobody else on the host: a process
// of the same host user can signal a worker (kill(2) compares user IDs,
// namespaces aside) and, while the worker is dumpable, trace it. useradd
// hands out subordinate ranges (/etc/subuid, /etc/subgid) from 100000 up,
// so that a user's rootless containers run as those IDs.

// maxHostID is the largest ID a user namespace can map to: (uid_t)-1 means
// "no ID", and (uid_t)-2 is the overflow ID on some hosts.
const maxHostID = 1<<32 - 3

// idFiles are the files the host's IDs are checked against; tests point
// them at fixtures.
type idFiles struct {
	passwd, group, subuid, subgid string
}

var hostIDFiles = idFiles{passwd: "/etc/passwd", group: "/etc/group", subuid: "/etc/subuid", subgid: "/etc/subgid"}

// hostIDs fills in the workers' host IDs and checks that nobody else has
// them.
func (s *containerSpawner) hostIDs() error {
	if s.o.HostUID == 0 && s.o.HostGID == 0 {
		id, err := WorkerID()
		if err != nil {
			return err
		}
		s.o.HostUID, s.o.HostGID = id, id
	}
	if s.o.HostUID == 0 {
		s.o.HostUID = s.o.HostGID
	}
	if s.o.HostGID == 0 {
		s.o.HostGID = s.o.HostUID
	}
	return checkHostIDs(hostIDFiles, s.o.HostUID, s.o.HostGID)
}

// WorkerID is the workers' host user and group ID when ContainerOptions
// does not give them: $AGENT_CTL_WORKER_ID, else DefaultWorkerID.
func WorkerID() (int, error) {
	v := os.Getenv(WorkerIDEnv)
	if v == "" {
		return DefaultWorkerID, nil
	}
	id, err := strconv.ParseUint(v, 10, 32)
	if err != nil || id == 0 || id > maxHostID {
		return 0, fmt.Errorf("%s=%q: want a user ID from 1 to %d", WorkerIDEnv, v, uint64(maxHostID))
	}
	return int(id), nil
}

// checkHostIDs refuses worker IDs that a host user or group has, or that a
// subordinate range covers.
func checkHostIDs(f idFiles, uid, gid int) error {
	for _, id := range []int{uid, gid} {
		if id <= 0 || id > maxHostID {
			return fmt.Errorf("worker host ID %d: want an ID from 1 to %d", id, uint64(maxHostID))
		}
	}
	var errs []error
	check := func(path, what string, id int, parse func(io.Reader, int) (string, error)) {
		r, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("checking the worker host IDs: %w", err))
			return
		}
		defer r.Close()
		owner, err := parse(r, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("checking the worker host IDs against %s: %w", path, err))
		} else if owner != "" {
			errs = append(errs, fmt.Errorf("worker host %s %d is %s's (%s): choose another with --worker-id or %s", what, id, owner, path, WorkerIDEnv))
		}
	}
	check(f.passwd, "uid", uid, idOwner)
	check(f.group, "gid", gid, idOwner)
	check(f.subuid, "uid", uid, subIDOwner)
	check(f.subgid, "gid", gid, subIDOwner)
	return errors.Join(errs...)
}

// idOwner returns the name of the entry of an /etc/passwd or /etc/group
// file (name:x:ID:…) whose ID is id, or "".
func idOwner(r io.Reader, id int) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if n, err := strconv.ParseUint(f[2], 10, 32); err == nil && n == uint64(id) {
			return f[0], nil
		}
	}
	return "", sc.Err()
}

// subIDOwner returns the owner of the subordinate range of an /etc/subuid
// or /etc/subgid file (owner:start:count) that covers id, or "". A line it
// cannot read is an error: a range it skipped might cover id.
func subIDOwner(r io.Reader, id int) (string, error) {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) != 3 {
			return "", fmt.Errorf("line %d: want owner:start:count", n)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("line %d: want owner:start:count", n)
		}
		if uint64(id) >= start && uint64(id) < start+count {
			return fmt.Sprintf("%s (subordinate range %d-%d)", f[0], start, start+count-1), nil
		}
	}
	return "", sc.Err()
}

// requireLandlock refuses a kernel without Landlock unless the operator
// allowed it (ContainerOptions.AllowNoLandlock, AllowNoLandlockEnv), and
// records the kernel's Landlock ABI.
func (s *containerSpawner) requireLandlock() error {
	s.landlockABI = landlockABI()
	if s.landlockABI > 0 {
		return nil
	}
	if !s.o.AllowNoLandlock && os.Getenv(AllowNoLandlockEnv) != "1" {
		return fmt.Errorf("%w: this kernel has no Landlock (CONFIG_SECURITY_LANDLOCK, lsm=landlock), a wall of container isolation: "+
			"to run workers without it, say so with --allow-no-landlock or %s=1", ErrUnavailable, AllowNoLandlockEnv)
	}
	s.log.Warn("landlock is not available in this kernel: workers run without it, as allowed", "engine", s.o.Engine)
	return nil
}
