// Package policies holds the typed policy of one call: what a module is
// granted (directories, environment variables) and the limits it runs under
// (memory, time, output). Everything is denied unless a policy grants it.
//
// A Policy is plain data. Validate resolves and checks it against the host
// before any worker is spawned, so a bad grant is refused with a clear
// message instead of surfacing as a failure inside the worker.
package policies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults for a call whose policy leaves a limit at zero.
const (
	DefaultMemory    = 128 << 20
	DefaultTimeout   = 30 * time.Second
	DefaultMaxOutput = 16 << 20

	// MaxMemory is the largest linear memory a 32-bit WebAssembly module can
	// address (65536 pages of 64 KiB).
	MaxMemory = 4 << 30
	// MinMemory is one WebAssembly page.
	MinMemory = 64 << 10
	// MaxTimeout bounds how long one call may be allowed to run.
	MaxTimeout = 24 * time.Hour
)

// ErrInvalid is wrapped by every error that Validate and the parsers return.
var ErrInvalid = errors.New("invalid policy")

// Isolation names the walls around the worker process.
type Isolation string

const (
	// IsolationDefault asks for container isolation, and a call fails if
	// the host cannot provide it: there is no silent fallback.
	IsolationDefault Isolation = ""
	// IsolationProcess runs the worker as a plain child process: the WASM
	// sandbox is the only wall.
	IsolationProcess Isolation = "process"
	// IsolationContainer confines the worker with namespaces, cgroups and
	// seccomp on Linux (job objects on Windows are planned, not built).
	IsolationContainer Isolation = "container"
)

// Dir grants a module access to a host directory at a guest path.
type Dir struct {
	// Host is the directory on the host. Validate replaces it with its
	// absolute, clean form; on Linux a path with a symbolic link in any
	// component is refused.
	Host string
	// Guest is the absolute path the module sees.
	Guest string
	// Writable grants write access; the zero value is read-only.
	Writable bool

	// File is the directory as Validate opened it, once, without following
	// links (an O_PATH descriptor): what is checked, mounted and handed to
	// the worker, whatever Host names by then. nil before Validate and
	// where the platform has no such descriptor (Windows). Policy.Close
	// closes it.
	File *os.File
	// ID is File's identity ("device:inode"), so that a directory replaced
	// under the same name is told apart; empty where File is nil.
	ID string
}

// String renders the grant in the form ParseDir reads.
func (d Dir) String() string {
	mode := "ro"
	if d.Writable {
		mode = "rw"
	}
	return d.Host + ":" + d.Guest + ":" + mode
}

// Env is one environment variable handed to the module.
type Env struct {
	Key, Value string
}

// Policy is what one call may do. The zero value grants nothing and uses the
// default limits.
type Policy struct {
	// Dirs are the preopened directories; none when empty.
	Dirs []Dir
	// Env is the module's whole environment; empty when nil. Nothing of the
	// host's environment reaches a module unless it is listed here.
	Env []Env
	// Net are the hosts and ports the module may reach through the
	// agent_ctl host functions; none when empty.
	Net []NetGrant
	// Memory caps the module's linear memory in bytes; zero means
	// DefaultMemory.
	Memory int64
	// Timeout caps the module's wall-clock run time; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxOutput caps the bytes the module may write to stdout and stderr
	// together; zero means DefaultMaxOutput.
	MaxOutput int64
	// Isolation selects the walls around the worker; zero means container
	// isolation.
	Isolation Isolation
	// Protected are host directories no grant may reach, beyond the ones
	// that hand over the host (/, /proc, /sys, /dev), which are always
	// refused: the supervisor adds its own state directory.
	Protected []string
}

// hostPaths are what no grant may be, or lie below: they hand over the
// host.
var hostPaths = []string{"/proc", "/sys", "/dev"}

// CheckHostPath refuses a resolved (absolute, symlink-free) host directory
// that would hand over the host: "/" itself, /proc, /sys, /dev or anything
// below them, and any of protected or anything below them. Granting a
// parent of a protected directory is refused too, since it contains it.
func CheckHostPath(real string, protected ...string) error {
	if real == "/" {
		return fmt.Errorf("%w: granting / would hand over the host", ErrInvalid)
	}
	for _, p := range hostPaths {
		if within(real, p) {
			return fmt.Errorf("%w: granting %s would hand over the host (%s is never granted)", ErrInvalid, real, p)
		}
	}
	for _, p := range protected {
		if p == "" {
			continue
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if within(real, p) || within(p, real) {
			return fmt.Errorf("%w: granting %s would expose agent-ctl's own state in %s", ErrInvalid, real, p)
		}
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// WithDefaults returns a copy of p whose zero limits are replaced by the
// defaults.
func (p Policy) WithDefaults() Policy {
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxOutput == 0 {
		p.MaxOutput = DefaultMaxOutput
	}
	return p
}

// Validate fills in defaults, resolves every granted host directory to its
// real absolute path and checks the whole policy. It returns the resolved
// policy; the error wraps ErrInvalid and names the offending grant.
func (p Policy) Validate() (Policy, error) {
	p = p.WithDefaults()
	if p.Memory < MinMemory || p.Memory > MaxMemory {
		return p, fmt.Errorf("%w: memory limit %s is outside %s..%s", ErrInvalid,
			FormatSize(p.Memory), FormatSize(MinMemory), FormatSize(MaxMemory))
	}
	if p.Timeout < 0 || p.Timeout > MaxTimeout {
		return p, fmt.Errorf("%w: timeout %s is outside 0s..%s", ErrInvalid, p.Timeout, MaxTimeout)
	}
	if p.MaxOutput < 0 {
		return p, fmt.Errorf("%w: output limit %d is negative", ErrInvalid, p.MaxOutput)
	}
	switch p.Isolation {
	case IsolationDefault, IsolationProcess, IsolationContainer:
	default:
		return p, fmt.Errorf("%w: isolation %q: want process or container", ErrInvalid, p.Isolation)
	}

	dirs := make([]Dir, 0, len(p.Dirs))
	guests := make(map[string]bool, len(p.Dirs))
	for _, d := range p.Dirs {
		if guests[d.Guest] {
			closeDirs(dirs)
			return p, fmt.Errorf("%w: guest path %s is granted twice", ErrInvalid, d.Guest)
		}
		r, err := d.resolve(p.Protected)
		if err != nil {
			closeDirs(dirs)
			return p, err
		}
		if guests[r.Guest] {
			closeDirs(append(dirs, r))
			return p, fmt.Errorf("%w: guest path %s is granted twice", ErrInvalid, r.Guest)
		}
		guests[r.Guest] = true
		dirs = append(dirs, r)
	}
	p.Dirs = dirs
	ok := false
	defer func() {
		if !ok {
			closeDirs(dirs)
		}
	}()

	for _, n := range p.Net {
		if err := n.check(); err != nil {
			return p, err
		}
	}

	seen := make(map[string]bool, len(p.Env))
	for _, e := range p.Env {
		if err := checkEnvKey(e.Key); err != nil {
			return p, err
		}
		if strings.IndexByte(e.Value, 0) >= 0 {
			return p, fmt.Errorf("%w: environment variable %s: value contains a NUL byte", ErrInvalid, e.Key)
		}
		if seen[e.Key] {
			return p, fmt.Errorf("%w: environment variable %s is set twice", ErrInvalid, e.Key)
		}
		seen[e.Key] = true
	}
	ok = true
	return p, nil
}

// Close releases the directories a validated policy holds open (Dir.File).
func (p Policy) Close() { closeDirs(p.Dirs) }

func closeDirs(dirs []Dir) {
	for _, d := range dirs {
		if d.File != nil {
			d.File.Close()
		}
	}
}

// resolve opens the host directory once (see openHostDir), checks what it
// is against the host's and the protected directories, and returns the
// grant with its clean path and its descriptor.
func (d Dir) resolve(protected []string) (Dir, error) {
	if d.Host == "" {
		return d, fmt.Errorf("%w: directory grant has an empty host path", ErrInvalid)
	}
	if strings.IndexByte(d.Host, 0) >= 0 || strings.IndexByte(d.Guest, 0) >= 0 {
		return d, fmt.Errorf("%w: directory grant %q contains a NUL byte", ErrInvalid, d.Host)
	}
	guest, err := d.resolveGuest()
	if err != nil {
		return d, err
	}
	// Not cleaned: "link/.." must reach the kernel as it is, so that the
	// link in it is seen (and refused) rather than cleaned away.
	abs := d.Host
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return d, fmt.Errorf("%w: directory %s: %w", ErrInvalid, d.Host, err)
		}
		abs = wd + "/" + abs
	}
	real, f, err := openHostDir(abs)
	if err != nil {
		return d, err
	}
	id, err := checkHostDir(f, real, protected)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return d, err
	}
	return Dir{Host: real, Guest: guest, Writable: d.Writable, File: f, ID: id}, nil
}

func checkEnvKey(k string) error {
	if k == "" {
		return fmt.Errorf("%w: environment variable with an empty name", ErrInvalid)
	}
	if strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("%w: environment variable name %q contains '=' or a NUL byte", ErrInvalid, k)
	}
	return nil
}
