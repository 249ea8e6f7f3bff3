//go:build !windows

package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
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

// otherWriters says who besides this user may write in the directory fi
// describes ("" for no one): its group or everyone by its mode, or its
// owner, when that is neither this user nor root (who may anyway).
func otherWriters(fi fs.FileInfo) string {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Sprintf("mode %v", fi.Mode())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return fmt.Sprintf("owned by uid %d", st.Uid)
	}
	return ""
}
