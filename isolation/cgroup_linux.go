//go:build linux && cgo

package isolation

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/opencontainers/cgroups"
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
// most of libcontainer's cgroup apply, during which the new init waits for
// its bootstrap data. Writers within about one grace period of each other
// share it. So Start first has the supervisor "move" itself into the
// cgroup it is already in: a write that changes nothing, done in the
// background while Start prepares the container and libcontainer seals and
// execs the init (4-5 ms here). libcontainer's own write then waits only
// for what is left of the grace period. On a kernel where cgroups favour
// dynamic changes (favordynmods) writers never wait, and this costs one
// write.
//
// The goroutine holds one of the process's Ps while it waits in the
// kernel, and the write holds cgroup_mutex meanwhile, so any other cgroup
// change (a mkdir in a cgroup file system, say) waits for it too; the
// worker's cgroup directories are therefore left to libcontainer, after.
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
