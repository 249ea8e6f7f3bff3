//go:build linux && cgo

package isolation

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
)

// cgroupConfig is the cgroup of one worker's container: its place and its
// limits.
func (s *containerSpawner) cgroupConfig(spec *Spec, id string) *cgroups.Cgroup {
	mem := spec.MemoryLimit
	if mem == 0 {
		mem = s.o.MemoryLimit
	}
	cpus := s.cpus(spec)
	const cpuPeriod = 100_000 // µs
	pids := s.o.PidsLimit
	res := &cgroups.Resources{
		Memory:    mem,
		PidsLimit: &pids,
		CpuPeriod: cpuPeriod,
		CpuQuota:  int64(cpus * cpuPeriod),
		Devices:   deviceRules(),
	}
	if s.swapLimit {
		res.MemorySwap = mem // memory plus swap: no swap on top of the limit
	}
	path := id
	if s.cgroupParent != "" {
		path = filepath.Join(s.cgroupParent, id)
	}
	return &cgroups.Cgroup{Path: path, Resources: res}
}

// placementMu serialises placeCgroups: a supervisor moves itself once.
var placementMu sync.Mutex

// placeCgroups decides where this spawner's workers get their cgroups
// (see placeWorkers) and, on cgroup v2, moves the supervisor into a leaf of
// its own cgroup to make room for them. Workers that cannot go below the
// supervisor's cgroup go beside it, said at Info level: every `agent-ctl
// run` typed in a shell on a cgroup v2 desktop is such a case, and each
// worker keeps its own limits; doctor says it too.
func (s *containerSpawner) placeCgroups() error {
	s.cgroupParent = s.o.CgroupParent
	if s.cgroupParent != "" || !cgroups.IsCgroup2UnifiedMode() {
		return nil
	}
	placementMu.Lock()
	defer placementMu.Unlock()
	own, err := readOwnCgroupV2()
	if err != nil {
		return err
	}
	p, err := placeWorkers(cgroupV2Mount, own, os.Getpid(), workerControllers, true)
	if err != nil {
		return fmt.Errorf("placing the workers' cgroups: %w", err)
	}
	if p.moved != "" {
		dir := filepath.Join(cgroupV2Mount, p.moved)
		ownCgroupDir.Store(&dir)
		s.log.Info("supervisor moved into a leaf of its cgroup, to have its workers' cgroups below it", "cgroup", p.moved, "workers", p.parent)
	}
	if p.why != "" {
		s.log.Info("worker cgroups go beside the supervisor's cgroup, outside its limits", "reason", p.why)
	}
	s.cgroupParent = p.parent
	return nil
}

// readOwnCgroupV2 returns this process's cgroup v2 cgroup, from the root
// of the mount at /sys/fs/cgroup.
func readOwnCgroupV2() (string, error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("finding the supervisor's cgroup: %w", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("finding the supervisor's cgroup: %w", err)
	}
	return ownCgroupV2(cg, mi, cgroupV2Mount)
}

// setOOMScoreAdj makes worker pid the first the kernel's OOM killer takes
// (1000, the most), before the supervisor. Written by root from outside,
// it also becomes the worker's floor: without CAP_SYS_RESOURCE it cannot
// lower it again.
// It costs an open, a write and a close in procfs, little against a
// start.
func setOOMScoreAdj(pid int) error {
	f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", os.O_WRONLY, 0)
	if err == nil {
		_, err = f.Write([]byte(strconv.Itoa(workerOOMScoreAdj)))
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return fmt.Errorf("setting the worker's oom_score_adj: %w", err)
	}
	return nil
}

// workerOOMScoreAdj is every worker's oom_score_adj.
const workerOOMScoreAdj = 1000

// cgroupsFile, in a container's directory, lists its cgroup directories.
const cgroupsFile = "cgroups.json"

// recordCgroups writes where a container's cgroups will be, before the init
// makes them. libcontainer saves the container's state (and with it those
// paths) only when the init is nearly done: a supervisor killed in between
// left cgroups that nothing could find again.
func recordCgroups(c *libcontainer.Container, dir string) error {
	st, err := c.State()
	if err != nil {
		return fmt.Errorf("recording the container's cgroups: %w", err)
	}
	return writeCgroupsFile(dir, st.CgroupPaths)
}

// writeCgroupsFile lists paths (controller → cgroup directory) in dir's
// cgroupsFile.
func writeCgroupsFile(dir string, paths map[string]string) error {
	b, err := json.Marshal(paths)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, cgroupsFile), b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("recording the container's cgroups: %w", err)
	}
	return nil
}

// readCgroupsFile returns the cgroup directories listed in dir, nil when
// none are; each must be a clean path below /sys/fs/cgroup.
func readCgroupsFile(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, cgroupsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var paths map[string]string
	if err := json.Unmarshal(b, &paths); err != nil {
		return nil, fmt.Errorf("reading %s: %w", cgroupsFile, err)
	}
	for _, p := range paths {
		if filepath.Clean(p) != p || !strings.HasPrefix(p, "/sys/fs/cgroup/") {
			return nil, fmt.Errorf("%s: %q is not a cgroup directory", cgroupsFile, p)
		}
	}
	return paths, nil
}

// removeRecordedCgroups removes the cgroup directories recordCgroups listed
// in dir, if they are empty; none listed is not an error.
func removeRecordedCgroups(dir string) error {
	paths, err := readCgroupsFile(dir)
	if err != nil || paths == nil {
		return err
	}
	return cgroups.RemovePaths(paths)
}

// cgroupsEmpty tells whether the cgroups recorded in dir hold no process
// (or are gone).
func cgroupsEmpty(dir string) bool {
	paths, err := readCgroupsFile(dir)
	if err != nil {
		return false
	}
	for _, p := range paths {
		procs, err := os.ReadFile(filepath.Join(p, cgroups.CgroupProcesses))
		if err == nil && len(strings.TrimSpace(string(procs))) > 0 {
			return false
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}

// cpus is the worker's CPU quota in cores.
func (s *containerSpawner) cpus(spec *Spec) float64 {
	if spec.CPUs != 0 {
		return spec.CPUs
	}
	return s.o.CPUs
}

// workerEnv is the worker's environment: spec's, and GOMAXPROCS set to its
// CPU quota rounded up, but at least 2. The Go runtime sizes itself to a
// cgroup's quota only when it can read the cgroup, and a worker cannot (no
// /sys): it would run as many threads as the host has CPUs and be
// throttled by the quota in bursts. Not 1: the worker spends long spells
// in cgo calls (the module's run, closing its store), and with a single P
// its RPC goroutines would wait for the runtime to take that P back (the
// pooled call's p99 about doubled when it was tried).
func (s *containerSpawner) workerEnv(spec *Spec, extra ...string) []string {
	env := make([]string, 0, len(spec.Env)+1+len(extra))
	env = append(env, spec.Env...)
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(max(2, int(math.Ceil(s.cpus(spec))))))
	}
	return append(env, extra...)
}

// swapAccounting tells whether the memory controller can limit swap:
// cgroup v1's memsw files, cgroup v2's memory.swap.max, which the kernel
// has only with swap accounting (CONFIG_MEMCG_SWAP, and not booted with
// swapaccount=0). On v2 the file is in non-root cgroups only: parent (as
// in cgroups.Cgroup.Path, may be empty) is looked at, else any child of
// the root.
func swapAccounting(parent string) bool {
	if !cgroups.IsCgroup2UnifiedMode() {
		mnt, err := cgroups.FindCgroupMountpoint("", "memory")
		if err != nil {
			return false
		}
		_, err = os.Stat(filepath.Join(mnt, "memory.memsw.limit_in_bytes"))
		return err == nil
	}
	if parent != "" && filepath.Clean("/"+parent) != "/" {
		_, err := os.Stat(filepath.Join(cgroupV2Mount, parent, "memory.swap.max"))
		return err == nil
	}
	dirs, _ := filepath.Glob(filepath.Join(cgroupV2Mount, "*", "cgroup.controllers"))
	for _, f := range dirs {
		if slices.Contains(readFields(f), "memory") {
			_, err := os.Stat(filepath.Join(filepath.Dir(f), "memory.swap.max"))
			return err == nil
		}
	}
	// No cgroup with the memory controller to look at: since Linux 6.1
	// swap accounting comes with the memory controller and swap support
	// (/proc/swaps) unless the kernel was booted with swapaccount=0.
	cmdline, _ := os.ReadFile("/proc/cmdline")
	_, err := os.Stat("/proc/swaps")
	return err == nil && !slices.Contains(strings.Fields(string(cmdline)), "swapaccount=0")
}

// logSwap says at Info level when the memory controller cannot cap swap:
// then swap comes on top of every worker's memory limit.
func logSwap(log *slog.Logger, swapLimit bool) {
	if !swapLimit {
		log.Info("the memory cgroup controller cannot cap swap here: a worker's memory limit covers RAM only", "reason", noSwapReason())
	}
}

// noSwapReason says why swapAccounting finds none, and what to do.
func noSwapReason() string {
	if cgroups.IsCgroup2UnifiedMode() {
		return "no memory.swap.max in the cgroups: the kernel has no swap accounting (CONFIG_MEMCG_SWAP, or booted with swapaccount=0)"
	}
	return "no memory.memsw.* files: the kernel was built or booted without swap accounting (boot with swapaccount=1)"
}
