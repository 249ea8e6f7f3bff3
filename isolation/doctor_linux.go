//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/sys/unix"
)

func checkContainer(o *ContainerOptions) error {
	if !seccomp.Enabled {
		return fmt.Errorf("%w: container isolation needs seccomp, and this build has none: rebuild with -tags seccomp (needs libseccomp-dev)", ErrUnavailable)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: container isolation needs root (rootless containers are not supported)", ErrUnavailable)
	}
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return fmt.Errorf("%w: this kernel has no user namespaces", ErrUnavailable)
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n == 0 {
			return fmt.Errorf("%w: user namespaces are disabled (user.max_user_namespaces is 0)", ErrUnavailable)
		}
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if !hasController(c) {
			return fmt.Errorf("%w: the %s cgroup controller is not available", ErrUnavailable, c)
		}
	}
	return nil
}

func hasController(name string) bool {
	if cgroups.IsCgroup2UnifiedMode() {
		b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		return err == nil && strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+name+" ")
	}
	_, err := cgroups.FindCgroupMountpoint("", name)
	return err == nil
}

// Checks inspects this host and build for each wall container isolation
// builds, without changing anything.
func Checks() []Check {
	var cs []Check
	add := func(name string, ok bool, required bool, format string, args ...any) {
		cs = append(cs, Check{Name: name, OK: ok, Required: required, Detail: fmt.Sprintf(format, args...)})
	}
	add("root", os.Geteuid() == 0, true, "running as uid %d (container isolation needs root; rootless is not supported)", os.Geteuid())

	userns := "missing: this kernel has no user namespaces"
	usernsOK := false
	if _, err := os.Stat("/proc/self/ns/user"); err == nil {
		usernsOK, userns = true, "available"
		if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil {
			if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n == 0 {
				usernsOK, userns = false, "disabled (user.max_user_namespaces is 0)"
			} else {
				userns = fmt.Sprintf("available (max %d)", n)
			}
		}
	}
	add("user namespaces", usernsOK, true, "%s", userns)
	for _, ns := range []string{"pid", "net", "mnt", "ipc", "uts", "cgroup"} {
		_, err := os.Stat("/proc/self/ns/" + ns)
		add(ns+" namespace", err == nil, true, "%s", map[bool]string{true: "available", false: "missing"}[err == nil])
	}

	version := "v1"
	if cgroups.IsCgroup2UnifiedMode() {
		version = "v2"
	} else if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		version = "v1 (hybrid: a cgroup2 hierarchy is mounted beside it)"
	}
	add("cgroups", true, false, "%s", version)
	for _, c := range []string{"memory", "pids", "cpu"} {
		ok := hasController(c)
		add("cgroup "+c+" controller", ok, true, "%s", map[bool]string{true: "available", false: "missing"}[ok])
	}

	kernelSeccomp := false
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		kernelSeccomp = strings.Contains(string(b), "\nSeccomp:")
	}
	switch {
	case !seccomp.Enabled:
		add("seccomp", false, true, "this build has no seccomp support: rebuild with -tags seccomp (needs libseccomp-dev)")
	case !kernelSeccomp:
		add("seccomp", false, true, "the kernel does not report seccomp support")
	default:
		add("seccomp", true, true, "available (libseccomp filter, default deny)")
	}

	// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
	// returns the ABI version where the kernel has Landlock enabled.
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1)
	switch {
	case errno == 0:
		add("landlock", true, true, "available (ABI %d): each worker is confined to its mounts with it", abi)
	case os.Getenv(AllowNoLandlockEnv) == "1":
		add("landlock", false, false, "not available in this kernel (%v): workers run without it, as %s=1 allows", errno, AllowNoLandlockEnv)
	default:
		add("landlock", false, true, "not available in this kernel (%v): container isolation refuses to start without it; "+
			"--allow-no-landlock or %s=1 lets workers run without this wall", errno, AllowNoLandlockEnv)
	}

	if id, err := WorkerID(); err != nil {
		add("worker host IDs", false, true, "%v", err)
	} else if err := checkHostIDs(hostIDFiles, id, id); err != nil {
		add("worker host IDs", false, true, "%v", err)
	} else {
		add("worker host IDs", true, true, "uid and gid %d: no host user, group or subordinate range (/etc/subuid, /etc/subgid) has them", id)
	}

	engine := os.Getenv(EngineEnv)
	if engine == "" {
		engine = EngineJail
	}
	if engine == EngineLibcontainer {
		add("libcontainer gaps", true, false, "walls the jail has and this engine lacks: a procfs with only process "+
			"directories (here the whole /proc is mounted; Landlock lets the worker read only /proc/1), and execve killed "+
			"by seccomp (here refused by Landlock, which needs a kernel with Landlock); see docs/isolation.md")
	}
	add("container engine", engine == EngineJail || engine == EngineLibcontainer, true,
		"%s (set %s to %s or %s to choose)", engine, EngineEnv, EngineJail, EngineLibcontainer)
	// The jail's bind mounts are detached mounts: open_tree(2), Linux 5.2.
	if fd, err := unix.OpenTree(unix.AT_FDCWD, "/dev/null", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC); err == nil {
		unix.Close(fd)
		add("detached mounts", true, engine == EngineJail, "available (open_tree, move_mount)")
	} else {
		add("detached mounts", false, engine == EngineJail, "open_tree: %v (the jail engine needs Linux 5.12 or later)", err)
	}
	fav := "no: the first cgroup move after a quiet spell waits an RCU grace period (a few ms per worker start); mount the cgroup hierarchies with favordynmods to avoid it"
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, " cgroup") && strings.Contains(l, "favordynmods") {
				fav = "yes"
			}
		}
	}
	add("cgroup favordynmods", fav == "yes", false, "%s", fav)
	cs = append(cs, cgroupChecks()...)

	err := CheckContainer(nil)
	add("container isolation", err == nil, true, "%s", map[bool]string{true: "can run (the default)", false: fmt.Sprint(err)}[err == nil])
	return cs
}
