package protocol

import "syscall"

// socketpair makes a stream socket pair, close-on-exec from the start: a
// worker spawned meanwhile by any means (the jail clones by itself) must
// not inherit another worker's channel.
func socketpair() ([2]int, error) {
	return syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
}
