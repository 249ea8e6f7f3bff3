//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/seccomp"
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
