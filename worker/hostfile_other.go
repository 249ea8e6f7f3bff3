//go:build !linux

package worker

import "github.com/agent-ctl/agent-ctl/worker/protocol"

// Without openat2 and O_PATH there is no resolution of a path below a
// descriptor that refuses links in every component: the file functions
// answer NOTSUP, and modules read through WASI (which they must fall back
// to anyway).

func openGrant(protocol.Dir) (int, bool, protocol.Errno) { return -1, false, protocol.NotSup }

func openBeneath(int, []string, bool) (int, protocol.Errno) { return -1, protocol.NotSup }

func transferFD(int, []byte, bool) (int, protocol.Errno) { return 0, protocol.BadHandle }

func closeFD(int) {}
