package supervisor

import (
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

func processExists(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return false
	}
	windows.CloseHandle(h)
	return true
}

// privateDir makes dir if it is missing and reports whether it is a
// directory: the system's temporary directory is the user's own on Windows.
func privateDir(dir string) bool {
	_ = os.Mkdir(dir, 0o700)
	fi, err := os.Lstat(dir)
	return err == nil && fi.IsDir()
}

// otherWriters is "": Windows reports no such bits, its directories' ACLs
// decide who may write.
func otherWriters(fs.FileInfo) string { return "" }
