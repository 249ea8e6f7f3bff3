//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
)

// jailControllers are the cgroup v1 controllers a jail worker joins: those
// its limits are set in. Making, joining and removing a cgroup in each of
// the others (a cgroup v1 host may mount a dozen hierarchies) would cost
// kernel time on every start and limit nothing.
var jailControllers = []string{"memory", "pids", "cpu", "devices"}

// jailCgroup returns the manager of a jail worker's cgroup: on cgroup v1,
// in the hierarchies of jailControllers only.
func jailCgroup(cg *cgroups.Cgroup) (cgroups.Manager, error) {
	if cgroups.IsCgroup2UnifiedMode() {
		return manager.New(cg)
	}
	paths, err := jailCgroupPaths(cg.Path)
	if err != nil {
		return nil, err
	}
	return manager.NewWithPaths(cg, paths)
}

// jailCgroupPaths returns the directories of the v1 cgroup at path (as in
// cgroups.Cgroup.Path) in the hierarchies of jailControllers: those of its
// parent, found once per parent and kept, joined with its name. Finding
// them is what a manager does on creation, for every hierarchy, by reading
// /proc/self/cgroup and the mount table each time: a noticeable share of
// a busy supervisor's CPU.
func jailCgroupPaths(path string) (map[string]string, error) {
	parent, name := filepath.Split(path)
	if parent == "" {
		parent = "."
	}
	bases, err := jailCgroupBases(filepath.Clean(parent))
	if err != nil {
		return nil, err
	}
	paths := make(map[string]string, len(bases))
	for c, b := range bases {
		paths[c] = filepath.Join(b, name)
	}
	return paths, nil
}

// jailParents caches jailCgroupBases by parent path.
var jailParents sync.Map // string → map[string]string

// jailCgroupBases returns the directories of the cgroup parent in the
// hierarchies of jailControllers, as a cgroup manager finds them.
func jailCgroupBases(parent string) (map[string]string, error) {
	if b, ok := jailParents.Load(parent); ok {
		return b.(map[string]string), nil
	}
	mgr, err := manager.New(&cgroups.Cgroup{Path: parent, Resources: &cgroups.Resources{}})
	if err != nil {
		return nil, err
	}
	all := mgr.GetPaths()
	bases := map[string]string{}
	for _, c := range jailControllers {
		p, ok := all[c]
		if !ok {
			return nil, fmt.Errorf("%w: no %s cgroup hierarchy", ErrUnavailable, c)
		}
		bases[c] = p
	}
	jailParents.Store(parent, bases)
	return bases, nil
}

// cgroupSetMu serialises cgroup managers' Set (see startJail).
var cgroupSetMu sync.Mutex

// warmMigration moves the supervisor into the cgroup it is already in. That
// changes nothing, but it is a cgroup migration: on kernels where
// cgroup_threadgroup_rwsem favours readers (no favordynmods), the first
// migration after a quiet spell waits an RCU grace period (the biggest step
// of a jail start: docs/isolation.md, "What it costs") and the ones right
// after it do not. Paying it while the worker is
// being cloned takes most of it off the start. Best effort: on failure the
// worker's own move pays instead.
func warmMigration() {
	if dir := ownCgroup(); dir != "" {
		_ = cgroups.WriteCgroupProc(dir, os.Getpid())
	}
}

// ownCgroupDir caches ownCgroup; placeCgroups updates it when it moves the
// supervisor.
var ownCgroupDir atomic.Pointer[string]

// ownCgroup is the supervisor's own cgroup directory in the pids hierarchy
// (cgroup v1) or the unified one (v2), found once; empty if unknown.
func ownCgroup() string {
	if d := ownCgroupDir.Load(); d != nil {
		return *d
	}
	dir := ""
	if own, err := cgroups.ParseCgroupFile("/proc/self/cgroup"); err == nil {
		if cgroups.IsCgroup2UnifiedMode() {
			dir = filepath.Join("/sys/fs/cgroup", own[""])
		} else if mnt, err := cgroups.FindCgroupMountpoint("", "pids"); err == nil {
			dir = filepath.Join(mnt, own["pids"])
		}
	}
	ownCgroupDir.CompareAndSwap(nil, &dir)
	return *ownCgroupDir.Load()
}
