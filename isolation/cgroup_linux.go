//go:build linux && cgo

package isolation

import (
	"path/filepath"

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
