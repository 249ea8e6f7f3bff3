//go:build unix

package cache

import (
	"fmt"
	"os"
	"syscall"
)

// Identity names a file's identity (device, inode, size, modification and
// change times), which any write to it changes; "" where fi has none. The
// supervisor sends the identity of an entry it verified, and a worker that
// opens a file of that identity may load it without hashing it again.
func Identity(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d:%d", uint64(st.Dev), st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano())
}
