//go:build linux && cgo

package jail

// The constructor is in jail_linux.c; importing "C" makes cgo build it.

/*
#include <stdlib.h>
#include "jail_config.h"
*/
import "C"

import (
	"errors"
)

// parsed is what the constructor's parser read from a configuration, for
// the tests.
type parsed struct {
	root, hostname        string
	proc, landlock        bool
	seccomp, sync, userns int
	status                int
	mounts                []Mount
	rlimits               []Rlimit
}

// parse runs the constructor's own parser (C) on b. It is how the tests
// and the fuzzer reach that code: the constructor itself runs before Go.
func parse(b []byte) (*parsed, error) {
	buf := C.CBytes(b)
	defer C.free(buf)
	var c C.struct_jail_config
	var msg [160]C.char
	if C.agent_ctl_jail_parse((*C.char)(buf), C.size_t(len(b)), &c, &msg[0], C.size_t(len(msg))) != 0 {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	str := func(p *C.char) string {
		if p == nil {
			return ""
		}
		return C.GoString(p)
	}
	p := &parsed{
		root: str(c.root), hostname: str(c.hostname), proc: c.proc != 0, landlock: c.landlock != 0,
		seccomp: int(c.seccomp_fd), sync: int(c.sync_fd), userns: int(c.userns_fd), status: int(c.status_fd),
	}
	for _, m := range c.mounts[:c.nmounts] {
		p.mounts = append(p.mounts, Mount{FD: int(m.fd), Target: str(m.target), Dir: m.dir != 0, Access: Access(m.access)})
	}
	for _, r := range c.rlimits[:c.nrlimits] {
		p.rlimits = append(p.rlimits, Rlimit{Resource: int(r.resource), Soft: uint64(r.lim.rlim_cur), Hard: uint64(r.lim.rlim_max)})
	}
	return p, nil
}
