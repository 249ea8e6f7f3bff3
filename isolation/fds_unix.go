//go:build !windows

package isolation

import (
	"os"
	"strconv"
	"sync"
	"syscall"
)

var cloexecOnce sync.Once

// CloseInheritedFDs marks every file descriptor above stderr that this
// process inherited without close-on-exec (a shell or a parent can leak
// them) as close-on-exec, so no worker inherits a descriptor it was not
// given. Go sets close-on-exec on what it opens itself; this covers the
// rest. It runs once per process. It is a process-wide effect, so main
// calls it (before any worker is spawned), never a library behind its
// caller's back.
func CloseInheritedFDs() {
	cloexecOnce.Do(func() {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return
		}
		for _, e := range entries {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	})
}
