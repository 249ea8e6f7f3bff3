//go:build linux && cgo

package isolation

import (
	"github.com/agent-ctl/agent-ctl/isolation/jail"
)

// confineEnv is the variable with which a libcontainer worker confines
// itself further, in package jail's constructor, where runc has no such
// wall: Landlock to its mounts (no execute right anywhere, no unix socket
// made outside go-plugin's directory, its own executable unreadable) and
// the ABI filter (i386 and x32 calls kill the process). The jail engine
// builds both walls itself.
func (s *containerSpawner) confineEnv(plan []plannedMount) (string, error) {
	var ms []jail.Mount
	for _, w := range plan {
		if w.exec && !w.dir && w.file == nil {
			// The worker executable (by name; an Exec mount of the Spec's,
			// a cache entry, comes as a descriptor and is read): already
			// running, never read again.
			continue
		}
		ms = append(ms, jail.Mount{Target: w.dst, Dir: w.dir, Access: w.access()})
	}
	// Of /proc (runc's init needs all of it: subset=pid fails it), only
	// the worker's own directory: it is PID 1 of its namespace.
	ms = append(ms, jail.Mount{Target: "/dev/null", Access: jail.ReadWrite}, jail.Mount{Target: "/dev/urandom"},
		jail.Mount{Target: "/proc/1", Dir: true})
	v, err := jail.Confinement(s.landlockABI > 0, false, ms)
	if err != nil {
		return "", err
	}
	return jail.ConfineEnv + "=" + v, nil
}
