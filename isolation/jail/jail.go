// Package jail is the worker's half of a container start with agent-ctl's
// own engine: a C constructor that runs before the Go runtime, in a process
// the supervisor has cloned into new namespaces, and confines it (private
// root from mounts the supervisor prepared, pivot_root, cgroup namespace,
// rlimits, no capabilities, no_new_privs, seccomp). Linking this package
// into a binary is all it takes: the constructor does nothing unless the
// supervisor started the process with Env set to a configuration
// descriptor, and then it either confines the process completely or ends it
// with status 125 and a line on stderr.
//
// The supervisor's half (namespaces, mounts, cgroups, the seccomp program)
// is in package isolation; Config is the format between the two.
package jail

import (
	"fmt"
	"strconv"
	"strings"
)

// Env names the environment variable that carries the configuration's
// descriptor number.
const Env = "_AGENT_CTL_JAIL"

// magic starts every configuration; a worker built from other sources
// refuses a configuration it might misread.
const magic = "agent-ctl-jail-1"

// Config is one worker's confinement, as the constructor reads it. Every
// descriptor is one the worker inherits.
type Config struct {
	// Root is an empty directory; a tmpfs mounted on it becomes the
	// worker's root, read-only once built.
	Root string
	// Mounts are detached mounts (open_tree) moved to their targets,
	// parents first. Their flags and ID mappings are set by the supervisor.
	Mounts []Mount
	// Landlock restricts the worker, before seccomp, to its mounts as
	// their Access allows (and /proc read-only), and where the kernel's
	// Landlock ABI has them, to no TCP, no abstract unix socket and no
	// signal outside its own domain. The constructor fails if the kernel
	// has no Landlock; ask for it only where it has.
	Landlock bool
	// Proc mounts a read-only procfs of the worker's PID namespace at
	// /proc with only the process directories (subset=pid).
	Proc bool
	// Hostname is set in the worker's UTS namespace when not empty.
	Hostname string
	// Rlimits are set before privileges are dropped.
	Rlimits []Rlimit
	// Seccomp is the descriptor of the filter: a classic BPF program, the
	// raw array of struct sock_filter, read from offset 0.
	Seccomp int
	// Sync is the descriptor the worker reads one byte from once the
	// supervisor has moved it into its cgroup; the cgroup namespace,
	// rlimits, user namespace, capabilities and seccomp come after. The
	// supervisor keeps the other end open while the worker lives.
	Sync int
	// Status is the descriptor the worker writes one byte to once it is
	// wholly confined (seccomp loaded), and closes; end of file before
	// that byte means it failed, and its stderr says why.
	Status int
	// Userns is the descriptor of the user namespace the worker enters
	// last, as its root: it must map ID 0 to the worker's host IDs.
	Userns int
}

// Mount is a detached mount tree and where it goes.
type Mount struct {
	FD     int
	Target string
	Dir    bool // the target is a directory (else a file)
	// Access is what Landlock allows below Target, when Config.Landlock.
	Access Access
}

// Access is what the worker may do below a mount, for Landlock.
type Access int

const (
	ReadOnly  Access = iota // open and list
	ReadWrite               // also create, write, truncate, rename and remove files, directories and symlinks
	Sockets                 // also create unix sockets: go-plugin's socket directory
)

// Rlimit is one resource limit (RLIMIT_* from golang.org/x/sys/unix).
type Rlimit struct {
	Resource   int
	Soft, Hard uint64
}

// Encode returns the configuration in the constructor's format: fields
// that each end with a NUL byte.
func (c *Config) Encode() []byte {
	var b []byte
	f := func(s ...string) {
		for _, x := range s {
			b = append(b, x...)
			b = append(b, 0)
		}
	}
	n := strconv.Itoa
	f(magic, "root", c.Root)
	for _, m := range c.Mounts {
		dir := "0"
		if m.Dir {
			dir = "1"
		}
		f("mount", n(m.FD), m.Target, dir, n(int(m.Access)))
	}
	if c.Proc {
		f("proc")
	}
	if c.Landlock {
		f("landlock")
	}
	if c.Hostname != "" {
		f("hostname", c.Hostname)
	}
	for _, r := range c.Rlimits {
		f("rlimit", n(r.Resource), strconv.FormatUint(r.Soft, 10), strconv.FormatUint(r.Hard, 10))
	}
	f("userns", n(c.Userns), "seccomp", n(c.Seccomp), "sync", n(c.Sync), "status", n(c.Status), "end")
	return b
}

// ConfineEnv names the variable with which a worker that another engine
// (libcontainer) started confines itself further, from the same
// constructor, before the Go runtime starts: Landlock to its mounts, and a
// seccomp filter that kills the process on a call through another ABI
// (i386, x32). Setting it can only take rights away, so the constructor
// honours it in any process.
const ConfineEnv = "_AGENT_CTL_CONFINE"

// Confinement returns ConfineEnv's value: Landlock (when landlock) to the
// given mounts as their Access allows and /proc read-only (when proc),
// and the ABI filter always. Mounts' FD fields are not used; a target
// with a newline cannot be said and is an error.
func Confinement(landlock, proc bool, mounts []Mount) (string, error) {
	var b strings.Builder
	if landlock {
		b.WriteString("landlock\n")
	}
	if proc {
		b.WriteString("proc\n")
	}
	for _, m := range mounts {
		if strings.ContainsAny(m.Target, "\n\x00") || !strings.HasPrefix(m.Target, "/") {
			return "", fmt.Errorf("confinement of mount %q: not an absolute path on one line", m.Target)
		}
		b.WriteByte("rws"[m.Access])
		b.WriteByte(map[bool]byte{true: 'd', false: 'f'}[m.Dir])
		b.WriteString(m.Target)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
