package jail_test

import (
	"fmt"
	"strings"

	"github.com/agent-ctl/agent-ctl/isolation/jail"
)

// The supervisor describes a worker's confinement and hands it over in a
// memfd whose number it puts in the worker's environment as jail.Env; the
// descriptors are the worker's, after os/exec's ExtraFiles (3, 4, …).
func ExampleConfig_Encode() {
	c := jail.Config{
		Root:     "/run/agent-ctl/containers/call-1/root",
		Mounts:   []jail.Mount{{FD: 7, Target: "/srv/logs", Dir: true, Access: jail.ReadOnly}},
		Proc:     true,
		Landlock: true,
		Hostname: "agent-ctl",
		Seccomp:  4, Sync: 5, Status: 6, Userns: 8,
	}
	fmt.Println(strings.ReplaceAll(string(c.Encode()), "\x00", " "))
	// Output: agent-ctl-jail-1 root /run/agent-ctl/containers/call-1/root mount 7 /srv/logs 1 0 proc landlock hostname agent-ctl userns 8 seccomp 4 sync 5 status 6 end
}
