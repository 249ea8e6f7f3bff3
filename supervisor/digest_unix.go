//go:build unix

package supervisor

import (
	"os"
	"syscall"
)

type fileID struct {
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func identity(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano()}, true
}
