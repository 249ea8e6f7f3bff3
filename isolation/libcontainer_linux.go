//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // device rules for the cgroup; without it libcontainer refuses them
	devices "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

func (s *containerSpawner) startLibcontainer(spec *Spec) (Process, error) {
	t0 := time.Now()
	s.marked("start")
	id := "agent-ctl-" + randomID()
	mounts, plan, err := s.mounts(spec)
	if err != nil {
		return nil, err
	}
	confine, err := s.confineEnv(plan)
	if err != nil {
		return nil, err
	}
	cg := s.cgroupConfig(spec, id)
	dir, rootfs, err := s.callDir()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	// The container's root must be owned by the mapped root, which builds
	// it from inside the user namespace.
	if err := os.Chown(rootfs, s.o.HostUID, s.o.HostGID); err != nil {
		return nil, fmt.Errorf("creating container root: %w", err)
	}

	if err := s.chownPipes(spec); err != nil {
		return nil, err
	}

	cfg := s.config(id, rootfs, mounts, cg)
	if s.configHook != nil {
		s.configHook(cfg)
	}
	s.marked("prepared")
	tCreate := time.Now()
	c, err := libcontainer.Create(filepath.Join(dir, "state"), id, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating container: %w", err)
	}
	if err := recordCgroups(c, dir); err != nil {
		_ = c.Destroy()
		return nil, err
	}
	dCreate := time.Since(tCreate)
	s.marked("created")

	outR, outW, err := os.Pipe()
	if err != nil {
		_ = c.Destroy()
		return nil, fmt.Errorf("creating worker stdout: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = c.Destroy()
		closeFiles(outR, outW)
		return nil, fmt.Errorf("creating worker stderr: %w", err)
	}
	env := s.workerEnv(spec, confine)
	proc := &libcontainer.Process{
		Args:       append([]string{spec.Path}, spec.Args...),
		Env:        env,
		Cwd:        "/",
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: spec.ExtraFiles,
		Init:       true,
		LogLevel:   s.logLevel,
	}
	tRun := time.Now()
	onSpawnThread(func() { err = c.Run(proc) })
	dRun := time.Since(tRun)
	s.marked("ran")
	// The worker holds its own copies now; ours would keep the readers
	// from ever seeing EOF.
	closeFiles(outW, errW)
	if err != nil {
		_ = c.Destroy() // kills a half-started init
		closeFiles(outR, errR)
		return nil, fmt.Errorf("starting worker %s in a container: %w", spec.Path, err)
	}
	pid, err := proc.Pid()
	if err != nil { // cannot happen after a successful Run
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		_ = c.Destroy()
		closeFiles(outR, errR)
		return nil, fmt.Errorf("starting worker %s in a container: %w", spec.Path, err)
	}
	// libcontainer mounts grants by name: check that each is what was
	// opened. And libcontainer's init set the OOM score already, inside
	// the worker's user namespace: from outside it also becomes a floor
	// the worker cannot go below.
	err = checkMounted(pid, plan)
	if err == nil {
		err = setOOMScoreAdj(pid)
	}
	if err != nil {
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		_ = c.Destroy()
		closeFiles(outR, errR)
		return nil, err
	}
	ok = true
	p := &containerProcess{
		containerEnd: newContainerEnd(id, pid, s.log, outR, errR,
			containerTimings{Prepare: tCreate.Sub(t0), Create: dCreate, Run: dRun}),
		c: c, proc: proc, dir: dir,
	}
	go p.reap()
	s.log.Debug("container started", "container_id", id, "worker_pid", pid,
		"prepare_us", p.timings.Prepare.Microseconds(), "create_us", dCreate.Microseconds(),
		"run_us", dRun.Microseconds())
	return p, nil
}

type containerProcess struct {
	containerEnd
	c    *libcontainer.Container
	proc *libcontainer.Process
	dir  string
}

// reap waits for the worker (the container's PID 1: when it dies the kernel
// kills everything else in its PID namespace) and then removes the
// container: cgroup, state and root.
func (p *containerProcess) reap() {
	_, err := p.proc.Wait()
	p.ended(err, p.dir, p.c.Destroy)
}

// Kill kills the worker and everything in its container, and returns once
// the container is removed.
func (p *containerProcess) Kill() error {
	return p.kill(func() { _ = p.proc.Signal(unix.SIGKILL) })
}

// config is the libcontainer configuration of one worker's container.
func (s *containerSpawner) config(id, rootfs string, mounts []*configs.Mount, cg *cgroups.Cgroup) *configs.Config {
	host := func(id int) []configs.IDMap { return []configs.IDMap{{ContainerID: 0, HostID: int64(id), Size: 1}} }
	return &configs.Config{
		Rootfs:          rootfs,
		Readonlyfs:      true,
		RootPropagation: unix.MS_PRIVATE | unix.MS_REC,
		Namespaces: configs.Namespaces{
			{Type: configs.NEWUSER}, {Type: configs.NEWNS}, {Type: configs.NEWPID}, {Type: configs.NEWNET},
			{Type: configs.NEWIPC}, {Type: configs.NEWUTS}, {Type: configs.NEWCGROUP},
		},
		UIDMappings: host(s.o.HostUID),
		GIDMappings: host(s.o.HostGID),
		Hostname:    "agent-ctl",
		// procfs first: the worker opens /proc/self/fd/N, and the
		// kernel wants it read-only and without device or exec rights.
		Mounts: append([]*configs.Mount{{
			Source: "proc", Destination: "/proc", Device: "proc",
			Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY,
		}}, mounts...),
		Devices: workerDevices,
		MaskPaths: []string{
			"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
		},
		Capabilities:      &configs.Capabilities{}, // nil would keep the (namespaced) root's
		NoNewPrivileges:   true,
		NoNewKeyring:      true,
		ParentDeathSignal: int(unix.SIGKILL),
		Seccomp:           s.seccomp,
		Rlimits: []configs.Rlimit{
			{Type: unix.RLIMIT_CORE, Hard: 0, Soft: 0},
			{Type: unix.RLIMIT_NOFILE, Hard: s.o.MaxOpenFiles, Soft: s.o.MaxOpenFiles},
		},
		Cgroups:     cg,
		OomScoreAdj: &oomScoreAdj,
	}
}

// oomScoreAdj is workerOOMScoreAdj, addressable for configs.Config.
var oomScoreAdj = workerOOMScoreAdj

var workerDevices = []*devices.Device{
	{Path: "/dev/null", FileMode: 0o666, Rule: devices.Rule{Type: devices.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true}},
	{Path: "/dev/urandom", FileMode: 0o666, Rule: devices.Rule{Type: devices.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true}},
}

// deviceRules deny every device but the two the worker gets.
func deviceRules() []*devices.Rule {
	rules := []*devices.Rule{{Type: devices.WildcardDevice, Major: devices.Wildcard, Minor: devices.Wildcard, Permissions: "rwm", Allow: false}}
	for _, d := range workerDevices {
		r := d.Rule
		rules = append(rules, &r)
	}
	return rules
}

// mounts lists the bind mounts of a worker's root in libcontainer's terms.
func (s *containerSpawner) mounts(spec *Spec) ([]*configs.Mount, []plannedMount, error) {
	plan, err := s.planMounts(spec)
	if err != nil {
		return nil, nil, err
	}
	var out []*configs.Mount
	for _, w := range plan {
		flags := unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV
		if !w.exec {
			flags |= unix.MS_NOEXEC
		}
		if !w.writable {
			flags |= unix.MS_RDONLY
		}
		// By name: libcontainer clones the source from a thread in the
		// container's mount namespace, where neither our descriptor's
		// mount nor a detached one may be cloned (EINVAL). What it
		// mounted is checked against the descriptor once it has (see
		// checkMounted).
		m := &configs.Mount{
			Source: w.src, Destination: w.dst, Device: "bind", Flags: flags,
			// The same walls on whatever is mounted below the source.
			RecAttr: &unix.MountAttr{Attr_set: w.mountAttr()},
		}
		if w.idmap {
			// The worker, root of its namespace (HostUID on the host),
			// acts as the source's owner: it can read a 0600 file of
			// the supervisor's and write in a granted directory, and
			// what it creates there belongs to that owner. Files of
			// other owners show up as nobody's. The mapping (owner →
			// HostUID, HostGID) comes as a user namespace.
			ns, err := s.idmapUserns(w.uid, w.gid)
			if err != nil {
				return nil, nil, err
			}
			m.IDMapping = &configs.MountIDMapping{UserNSPath: ns}
		}
		out = append(out, m)
	}
	return out, plan, nil
}

// checkMounted checks that each mount of plan made from a descriptor
// (Mount.File) is, in the root of the started worker pid, the directory or
// file that descriptor is: libcontainer mounts by name, and the name may
// have been swapped between the check and the mount. It runs before the
// worker is given anything to do; on a mismatch the start fails and the
// worker is killed before it has looked at the mount.
func checkMounted(pid int, plan []plannedMount) error {
	var root *os.File
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	for _, w := range plan {
		if w.file == nil {
			continue
		}
		if root == nil {
			var err error
			if root, err = os.OpenFile(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("checking the worker's mounts: %w", err)
			}
		}
		fd, err := unix.Openat2(int(root.Fd()), w.dst, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("checking the mount of %s: %w", w.src, &os.PathError{Op: "openat2", Path: w.dst, Err: err})
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("checking the mount of %s: %w", w.src, err)
		}
		if uint64(st.Dev) != w.dev || st.Ino != w.ino {
			return fmt.Errorf("mount %s: %s was replaced while the worker was started (it is no longer what was checked)", w.dst, w.src)
		}
	}
	return nil
}
