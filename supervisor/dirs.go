package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// socketDirs numbers the supervisors of this process, each of which has
// its own directory for go-plugin's socket directories (Close removes it).
var socketDirs atomic.Int64

// socketDir makes the directory in which go-plugin makes this supervisor's
// workers' socket directories, named as the call directories are
// (call-PID-…) so that sweepCallDirs removes those of a supervisor that was
// killed: go-plugin removes a socket directory when its worker is killed,
// which a SIGKILL of the supervisor never does. It is under the state
// directory's tmp when a socket's path fits there, else in a private
// directory of this user's in the system's temporary directory (swept here
// too); "" when neither works.
func socketDir(tmp string) string {
	name := fmt.Sprintf("call-%d-s%d", os.Getpid(), socketDirs.Add(1))
	if d := filepath.Join(tmp, name); len(d)+len(socketSuffix) <= maxSocketPath && os.MkdirAll(d, 0o700) == nil {
		return d
	}
	short := filepath.Join(os.TempDir(), fmt.Sprintf("agent-ctl-%d", os.Getuid()))
	d := filepath.Join(short, name)
	if len(d)+len(socketSuffix) > maxSocketPath {
		return ""
	}
	// Twice: another supervisor's Close may remove short, empty, between
	// the check and the Mkdir. Checked again once d is in it: short is then
	// not empty, and only its owner could rename it in a sticky /tmp.
	for range 2 {
		if !privateDir(short) {
			return ""
		}
		sweepCallDirs(short)
		if os.Mkdir(d, 0o700) == nil {
			if privateDir(short) {
				return d
			}
			return ""
		}
	}
	return ""
}

// A unix socket's path holds at most 107 bytes (sun_path is 108 with its
// NUL), and go-plugin adds at most socketSuffix to socketBase: its
// directory and socket file, each a prefix and a random uint32.
const (
	maxSocketPath = 107
	socketSuffix  = "/plugin-dir4294967295/plugin4294967295"
)

// sweepCallDirs removes the call directories of supervisors that died
// without cleaning up (SIGKILL): each is named call-PID-…, and a PID that no
// longer exists owns nothing.
func sweepCallDirs(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "call-*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "call-%d-", &pid); err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if !processExists(pid) {
			_ = os.RemoveAll(d)
		}
	}
}
