//go:build linux

// Package procfs reads what tests check of a live process from the host:
// its status fields, its cgroup directories and its descendants.
package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Status returns the fields of /proc/PID/status, failing the test if it
// cannot be read.
func Status(tb testing.TB, pid int) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// CgroupDirs returns the host directories of pid's cgroups that carry the
// memory, pids and cpu controllers: one per controller on cgroup v1, the
// one unified directory on v2.
func CgroupDirs(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	_, v2err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	v2 := v2err == nil
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 {
			if parts[0] == "0" {
				dirs = append(dirs, filepath.Join("/sys/fs/cgroup", parts[2]))
			}
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" || c == "pids" || c == "cpu" {
				dirs = append(dirs, filepath.Join("/sys/fs/cgroup", c, parts[2]))
			}
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("process %d has no memory, pids or cpu cgroup:\n%s", pid, b)
	}
	return dirs, nil
}

// KiB reads a "NNN kB" field of Status (VmRSS, VmHWM, …) as kibibytes,
// failing the test if it is missing.
func KiB(tb testing.TB, pid int, field string) int {
	tb.Helper()
	v, ok := Status(tb, pid)[field]
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
	if !ok || err != nil {
		tb.Fatalf("process %d: no %s in its status (%q)", pid, field, v)
	}
	return n
}

// Proc is a process as its /proc/PID/stat shows it.
type Proc struct {
	PID, PPID int
	// Name is the command name (comm: at most 15 bytes of it).
	Name string
	// State is "R", "S", "Z" and so on.
	State string
}

// Descendants lists the processes below pid, at any depth, as /proc shows
// them at the call: a process that ends meanwhile is left out.
func Descendants(pid int) []Proc {
	procs := map[int]Proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// "PID (comm) STATE PPID ...": comm may hold spaces and parentheses.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || end+2 > len(s) {
			continue
		}
		f := strings.Fields(s[end+2:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		procs[p] = Proc{PID: p, PPID: ppid, Name: s[open+1 : end], State: f[0]}
	}
	var out []Proc
	for _, p := range procs {
		for q := p.PPID; q > 1; q = procs[q].PPID {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
