//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/cgroups"
)

// cgroupChecks says where a supervisor started like this process would put
// its workers' cgroups, whether their memory limit covers swap, and what
// the OOM killer takes first; it changes nothing.
func cgroupChecks() []Check {
	var cs []Check
	add := func(name string, ok bool, format string, args ...any) {
		cs = append(cs, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	cg, err1 := os.ReadFile("/proc/self/cgroup")
	mi, err2 := os.ReadFile("/proc/self/mountinfo")
	if err1 != nil || err2 != nil {
		add("worker cgroups", false, "cannot read this process's cgroup: %v", firstErr(err1, err2))
		return cs
	}
	if cgroups.IsCgroup2UnifiedMode() {
		own, err := ownCgroupV2(cg, mi, cgroupV2Mount)
		if err == nil {
			var p cgroupPlacement
			if p, err = placeWorkers(cgroupV2Mount, own, os.Getpid(), workerControllers, false); err == nil {
				switch {
				case p.why != "":
					add("worker cgroups", false, "beside the supervisor's cgroup, outside its limits (a unit's MemoryMax=, TasksMax= do not cover workers): %s", p.why)
				case p.moved != "":
					add("worker cgroups", true, "below the supervisor's cgroup %s, in %s (the supervisor moves itself into %s: cgroup v2 gives controllers only to the children of a cgroup without processes)", own, p.parent, p.moved)
				default:
					add("worker cgroups", true, "below the supervisor's cgroup %s, in %s", own, p.parent)
				}
			}
		}
		if err != nil {
			add("worker cgroups", false, "%v", err)
		}
	} else {
		var dirs []string
		ok := true
		for _, c := range jailControllers {
			dir, err := ownCgroupV1(cg, mi, c)
			if err != nil {
				ok = false
				dirs = append(dirs, fmt.Sprintf("%s: %v", c, err))
				continue
			}
			if err := writable(dir); err != nil {
				ok = false
				dirs = append(dirs, fmt.Sprintf("%s: %s (not writable: %v)", c, dir, err))
				continue
			}
			dirs = append(dirs, c+": "+dir)
		}
		add("worker cgroups", ok, "cgroup v1: below the supervisor's cgroup in each hierarchy (%s)", strings.Join(dirs, "; "))
	}

	parent := ""
	if cgroups.IsCgroup2UnifiedMode() {
		if own, err := ownCgroupV2(cg, mi, cgroupV2Mount); err == nil && filepath.Clean(own) != "/" {
			parent = own
		}
	}
	cs = append(cs, swapCheck(swapAccounting(parent)))
	add("worker oom_score_adj", true, "%d: the kernel's OOM killer takes workers before the supervisor", workerOOMScoreAdj)
	return cs
}

// swapCheck is doctor's line on the swap cap.
func swapCheck(swapLimit bool) Check {
	if swapLimit {
		return Check{Name: "cgroup swap cap", OK: true, Detail: "yes: a worker's memory limit covers memory and swap together"}
	}
	return Check{Name: "cgroup swap cap", Detail: "no: a worker's memory limit covers RAM only, swap comes on top (" + noSwapReason() + ")"}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
