//go:build linux && cgo

package isolation

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
)

// cgroupConfig is the cgroup of one worker's container: its place and its
// limits.
func (s *containerSpawner) cgroupConfig(spec *Spec, id string) *cgroups.Cgroup {
	mem := spec.MemoryLimit
	if mem == 0 {
		mem = s.o.MemoryLimit
	}
	cpus := spec.CPUs
	if cpus == 0 {
		cpus = s.o.CPUs
	}
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
	if s.o.CgroupParent != "" {
		path = filepath.Join(s.o.CgroupParent, id)
	}
	return &cgroups.Cgroup{Path: path, Resources: res}
}

// warmCgroupAttach makes the next move of a process between cgroups cheap,
// and returns at once.
//
// Moving a process into a cgroup (a write to cgroup.procs) takes the
// kernel's cgroup_threadgroup_rwsem for writing, and the first writer after
// a quiet spell waits for an RCU grace period: 5-15 ms on these machines,
// the whole of libcontainer's cgroup apply, during which the new init
// waits for its bootstrap data. Writers within about one grace period of
// each other share it. So Start first has the supervisor "move" itself
// into the cgroup it is already in: a write that changes nothing, done in
// the background while Start prepares the container, execs the init and
// creates the cgroup directories. libcontainer's own write then finds the
// grace period under way or past. On a kernel where cgroups favour dynamic
// changes (favordynmods) writers never wait, and this costs one write.
func (s *containerSpawner) warmCgroupAttach() {
	if !s.warming.CompareAndSwap(false, true) {
		return // one is under way: its grace period serves this start too
	}
	go func() {
		defer s.warming.Store(false)
		procs := ownCgroupProcs()
		if procs == "" {
			return
		}
		f, err := os.OpenFile(procs, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		_, _ = f.WriteString(strconv.Itoa(os.Getpid()))
		_ = f.Close()
	}()
}

// ownCgroupProcs is the cgroup.procs file of the supervisor's own cgroup
// (in the pids hierarchy on cgroup v1), read afresh so that a supervisor
// moved elsewhere is never moved back.
func ownCgroupProcs() string {
	if cgroups.IsCgroup2UnifiedMode() {
		own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
		if err != nil || own[""] == "" {
			return ""
		}
		return filepath.Join("/sys/fs/cgroup", own[""], cgroups.CgroupProcesses)
	}
	dir, err := cgroups.GetOwnCgroupPath("pids")
	if err != nil {
		return ""
	}
	return filepath.Join(dir, cgroups.CgroupProcesses)
}

// precreateCgroups creates, in the background, the directories of a
// worker's cgroups that libcontainer's cgroup apply would create while the
// init waits: on cgroup v1 one per mounted hierarchy, ten here, 0.1-0.3 ms
// each. The apply then only joins them. Wait for the returned channel
// before removing them. On cgroup v2 there is one directory, and
// libcontainer also enables controllers on its way down, so it is left to
// libcontainer.
func precreateCgroups(cg *cgroups.Cgroup) <-chan struct{} {
	done := make(chan struct{})
	if cgroups.IsCgroup2UnifiedMode() {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		// The same directories libcontainer.Create computes from cg.
		m, err := manager.New(cg)
		if err != nil {
			return
		}
		for _, p := range m.GetPaths() {
			_ = os.MkdirAll(p, 0o755)
		}
	}()
	return done
}

// removeCgroups removes the directories precreateCgroups made for a
// container that libcontainer never created.
func removeCgroups(cg *cgroups.Cgroup) {
	if cgroups.IsCgroup2UnifiedMode() {
		return
	}
	if m, err := manager.New(cg); err == nil {
		_ = m.Destroy()
	}
}
