//go:build linux && cgo

package isolation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// Where workers' cgroups go.
//
// On cgroup v2 a worker's cgroup is made below the supervisor's own, so
// that whatever limits the supervisor's cgroup (a systemd unit's
// MemoryMax=, TasksMax=) covers its workers too. cgroup v2 lets a cgroup
// give controllers to its children only while it holds no process (the
// root excepted), so the supervisor first moves itself into a leaf of its
// own cgroup:
//
//	<own>/                 memory, pids, cpu enabled for children
//	<own>/supervisor/      the supervisor
//	<own>/workers/         memory, pids, cpu enabled for children
//	<own>/workers/agent-ctl-<id>/   one worker
//
// That is what a systemd unit with Delegate=yes (or systemd-run --scope
// -p Delegate=yes) hands over. Where the supervisor's cgroup holds other
// processes too (a login shell's scope), it cannot be split that way:
// workers then go beside it, where they went before, and the supervisor
// says so (Info, and `agent-ctl doctor`). In the root cgroup (a VM or a
// container without an init system) nothing needs to move: workers go in
// /agent-ctl-workers.
//
// On cgroup v1 a worker's cgroup is made below the supervisor's own in
// each hierarchy (libcontainer's reading of a relative path), which v1
// allows whatever the supervisor's cgroup holds.
const (
	supervisorLeaf = "supervisor"
	workersCgroup  = "workers"
	rootWorkers    = "agent-ctl-workers" // below the root cgroup, which others share
)

// workerControllers are the cgroup v2 controllers a worker's cgroup needs:
// its limits are set in them.
var workerControllers = []string{"memory", "pids", "cpu"}

// cgroupPlacement says where workers' cgroups go.
type cgroupPlacement struct {
	// parent is the cgroup each worker's is made in, as
	// cgroups.Cgroup.Path takes it: absolute from the root of the cgroup
	// mount. Empty means a relative path: libcontainer's default, below
	// the supervisor's cgroup on v1 and beside it on v2.
	parent string
	// moved is the leaf cgroup the supervisor moved itself into (from the
	// mount's root); empty if it stayed where it was.
	moved string
	// why says why workers are not below the supervisor's cgroup; empty
	// when they are.
	why string
}

// placeWorkers decides where workers' cgroups go, for a supervisor whose
// cgroup is own (from the root of the cgroup2 mount at mnt) and whose PID
// is pid, for workers that need controllers ctrls. With commit it also makes it so: it creates the leaf and the
// workers' parent, moves the supervisor and enables the controllers;
// without, it changes nothing (for doctor). A cgroup that cannot be split
// is not an error: the placement says why.
func placeWorkers(mnt, own string, pid int, ctrls []string, commit bool) (cgroupPlacement, error) {
	own = filepath.Clean("/" + own)
	if own == "/" {
		p := cgroupPlacement{parent: "/" + rootWorkers}
		if commit {
			if err := enableControllers(mnt, ctrls); err != nil {
				return p, err
			}
			if err := makeCgroup(filepath.Join(mnt, rootWorkers)); err != nil {
				return p, err
			}
		}
		return p, nil
	}
	// A supervisor started from a leaf another one made (its own cgroup
	// already split) shares that split.
	if filepath.Base(own) == supervisorLeaf {
		parent := filepath.Dir(own)
		if isDir(filepath.Join(mnt, parent, workersCgroup)) && hasAll(readFields(filepath.Join(mnt, parent, "cgroup.subtree_control")), ctrls) {
			return cgroupPlacement{parent: filepath.Join(parent, workersCgroup)}, nil
		}
	}
	dir := filepath.Join(mnt, own)
	if missing := missingControllers(dir, ctrls); len(missing) > 0 {
		if commit && filepath.Dir(own) != own {
			// The parent may have them without giving them on: ask it,
			// as libcontainer does for every cgroup it makes.
			for _, c := range missing {
				_ = cgroups.WriteFile(filepath.Dir(dir), "cgroup.subtree_control", "+"+c)
			}
			missing = missingControllers(dir, ctrls)
		}
		if len(missing) > 0 {
			return cgroupPlacement{why: fmt.Sprintf("the supervisor's cgroup %s does not have the %s controller (its parent does not delegate it)", own, strings.Join(missing, ", "))}, nil
		}
	}
	procs, err := cgroupProcs(dir)
	if err != nil {
		return cgroupPlacement{}, err
	}
	others := slices.DeleteFunc(procs, func(p int) bool { return p == pid })
	if len(others) > 0 {
		return cgroupPlacement{why: fmt.Sprintf("the supervisor's cgroup %s holds %d other processes (%s), and a cgroup v2 cgroup with processes cannot give controllers to children: run the supervisor in a cgroup of its own (a systemd unit with Delegate=yes, or systemd-run --scope -p Delegate=yes)",
			own, len(others), pidList(others, 5))}, nil
	}
	p := cgroupPlacement{parent: filepath.Join(own, workersCgroup), moved: filepath.Join(own, supervisorLeaf)}
	if !commit {
		return p, nil
	}
	leaf := filepath.Join(mnt, p.moved)
	if err := makeCgroup(leaf); err != nil {
		return p, err
	}
	if err := cgroups.WriteCgroupProc(leaf, pid); err != nil {
		return p, fmt.Errorf("moving the supervisor into %s: %w", leaf, err)
	}
	if err := enableControllers(dir, ctrls); err != nil {
		// Another process came in meanwhile: go back, and go beside.
		_ = cgroups.WriteCgroupProc(dir, pid)
		_ = os.Remove(leaf)
		return cgroupPlacement{why: err.Error()}, nil
	}
	workers := filepath.Join(mnt, p.parent)
	if err := makeCgroup(workers); err != nil {
		return p, err
	}
	return p, enableControllers(workers, ctrls)
}

// enableControllers gives controllers ctrls to the children of cgroup dir.
func enableControllers(dir string, ctrls []string) error {
	if hasAll(readFields(filepath.Join(dir, "cgroup.subtree_control")), ctrls) {
		return nil
	}
	if err := cgroups.WriteFile(dir, "cgroup.subtree_control", "+"+strings.Join(ctrls, " +")); err != nil {
		return fmt.Errorf("enabling the %s controllers in %s: %w", strings.Join(ctrls, ", "), dir, err)
	}
	return nil
}

// makeCgroup creates cgroup directory dir unless it exists.
func makeCgroup(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating cgroup %s: %w", dir, err)
	}
	return nil
}

func missingControllers(dir string, ctrls []string) []string {
	have := readFields(filepath.Join(dir, "cgroup.controllers"))
	var missing []string
	for _, c := range ctrls {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func readFields(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// cgroupProcs lists the processes in cgroup dir.
func cgroupProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, cgroups.CgroupProcesses))
	if err != nil {
		return nil, fmt.Errorf("reading the processes of cgroup %s: %w", dir, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

func pidList(pids []int, most int) string {
	var s []string
	for i, p := range pids {
		if i == most {
			s = append(s, "…")
			break
		}
		s = append(s, strconv.Itoa(p))
	}
	return strings.Join(s, " ")
}

// cgroupV2Mount is where the unified hierarchy is mounted; libcontainer's
// cgroup v2 manager knows no other place.
const cgroupV2Mount = "/sys/fs/cgroup"

// ownCgroupV2 returns the cgroup of the process whose /proc/PID/cgroup is
// cgroupFile, from the root of the cgroup2 mount at mnt as mountinfo shows
// it: the path cgroups.Cgroup.Path takes. The two differ where only part
// of the hierarchy is mounted (a container without a cgroup namespace
// sees its own cgroup at the mount point).
func ownCgroupV2(cgroupFile, mountinfo []byte, mnt string) (string, error) {
	var own string
	found := false
	for l := range strings.SplitSeq(string(cgroupFile), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			own, found = p, true
		}
	}
	if !found || !strings.HasPrefix(own, "/") {
		return "", fmt.Errorf("finding the cgroup v2 cgroup: none in %q", cgroupFile)
	}
	root, ok := mountRoot(mountinfo, mnt, func(fstype, _ string) bool { return fstype == "cgroup2" })
	if !ok {
		return "", fmt.Errorf("finding the cgroup v2 cgroup: no cgroup2 mount at %s", mnt)
	}
	return relCgroup(root, own)
}

// ownCgroupV1 returns the directory of the cgroup of the process whose
// /proc/PID/cgroup is cgroupFile in the cgroup v1 hierarchy of controller,
// as mountinfo shows it mounted.
func ownCgroupV1(cgroupFile, mountinfo []byte, controller string) (string, error) {
	own := ""
	found := false
	for l := range strings.SplitSeq(string(cgroupFile), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), controller) {
			own, found = parts[2], true
		}
	}
	if !found {
		return "", fmt.Errorf("finding the %s cgroup: none in %q", controller, cgroupFile)
	}
	var mnt string
	root, ok := "", false
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		m, ok2 := parseMountinfo(sc.Text())
		if ok2 && m.fstype == "cgroup" && slices.Contains(strings.Split(m.superOpts, ","), controller) {
			mnt, root, ok = m.point, m.root, true
		}
	}
	if !ok {
		return "", fmt.Errorf("finding the %s cgroup: no cgroup mount of it", controller)
	}
	rel, err := relCgroup(root, own)
	if err != nil {
		return "", err
	}
	return filepath.Join(mnt, rel), nil
}

// relCgroup returns cgroup own (from the hierarchy's root) from root, the
// part of the hierarchy a mount shows.
func relCgroup(root, own string) (string, error) {
	root, own = filepath.Clean(root), filepath.Clean(own)
	switch {
	case root == "/":
		return own, nil
	case own == root:
		return "/", nil
	case strings.HasPrefix(own, root+"/"):
		return own[len(root):], nil
	}
	return "", fmt.Errorf("the cgroup %s is outside the part of the hierarchy mounted (%s)", own, root)
}

// mountRoot returns the root (the mounted part of its file system) of the
// last mount at point that match accepts by file system type and super
// options: the one on top.
func mountRoot(mountinfo []byte, point string, match func(fstype, superOpts string) bool) (string, bool) {
	root, ok := "", false
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		m, ok2 := parseMountinfo(sc.Text())
		if ok2 && m.point == point && match(m.fstype, m.superOpts) {
			root, ok = m.root, true
		}
	}
	return root, ok
}

type mountinfoLine struct {
	root, point, fstype, superOpts string
}

// parseMountinfo reads one line of /proc/PID/mountinfo (proc(5)).
func parseMountinfo(l string) (mountinfoLine, bool) {
	pre, post, ok := strings.Cut(l, " - ")
	if !ok {
		return mountinfoLine{}, false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 6 || len(g) < 3 {
		return mountinfoLine{}, false
	}
	return mountinfoLine{root: unescapeMountinfo(f[3]), point: unescapeMountinfo(f[4]), fstype: g[0], superOpts: g[2]}, true
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// writable tells whether this process may create cgroups in dir.
func writable(dir string) error {
	return unix.Access(dir, unix.W_OK)
}
