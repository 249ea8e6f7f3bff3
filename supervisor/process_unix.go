//go:build !windows

package supervisor

import (
	"errors"
	"os"
	"syscall"
)

func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// privateDir makes dir (0700) if it is missing and reports whether it is a
// directory of this user's that nobody else may enter: in a shared /tmp,
// anyone could have made it first.
func privateDir(dir string) bool {
	_ = os.Mkdir(dir, 0o700)
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid() && fi.Mode().Perm()&0o077 == 0
}
