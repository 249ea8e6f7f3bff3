//go:build linux && cgo

package isolation

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestJail_failedStartLeavesNothing fails a jail start at each of its
// stages (see startJail): by a real fault where one can be made, and by the
// stage hook after each stage. Whatever the stage, the start must leave
// nothing it acquired: no descriptor, cgroup, mount, worker or entry in the
// state directory.
func TestJail_failedStartLeavesNothing(t *testing.T) {
	sp := testSpawner(t, &ContainerOptions{Engine: EngineJail})
	grant := t.TempDir()
	// Not executable: cloning works, execve does not.
	notExec := filepath.Join(t.TempDir(), "worker")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file target below a read-only grant, where no such file exists:
	// the worker cannot make its mount point and says so.
	roGrant := t.TempDir()
	if err := os.Chmod(roGrant, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	writeFile(t, other, nil)
	ghost := []Mount{{Source: roGrant}, {Source: other, Target: filepath.Join(roGrant, "ghost")}}
	granted := []Mount{{Source: grant, Writable: true}}

	tests := []struct {
		name      string
		spec      Spec   // Path is the helper's unless set
		failAfter string // the stage after which the hook fails the start
		want      string // in Start's error
		reached   string // the last stage the start got through
	}{
		{name: "plan: a missing grant", spec: Spec{Mounts: []Mount{{Source: "/nonexistent/agent-ctl-grant"}}},
			want: "no such file or directory"},
		{name: "plan: a relative worker", spec: Spec{Path: "agent-ctl-worker"}, want: "not an absolute path"},
		{name: "after plan", spec: Spec{Mounts: granted}, failAfter: "plan", want: "injected after plan", reached: "plan"},
		{name: "after cgroup", spec: Spec{Mounts: granted}, failAfter: "cgroup", want: "injected after cgroup", reached: "cgroup"},
		{name: "after files", spec: Spec{Mounts: granted}, failAfter: "files", want: "injected after files", reached: "files"},
		{name: "launch: worker not executable", spec: Spec{Path: notExec, Mounts: granted},
			want: "permission denied", reached: "files"},
		{name: "after launch", spec: Spec{Mounts: granted}, failAfter: "launch", want: "injected after launch", reached: "launch"},
		// cgroup v1 and v2 refuse a CPU quota below 1 ms a period.
		{name: "release: an impossible cgroup", spec: Spec{Mounts: granted, CPUs: 0.001},
			want: "creating the worker's cgroup", reached: "launch"},
		{name: "release: the worker cannot confine itself", spec: Spec{Mounts: ghost},
			want: "read-only file system", reached: "launch"},
		{name: "after release", spec: Spec{Mounts: granted}, failAfter: "release", want: "injected after release", reached: "release"},
	}

	// Whatever a first start opens once for all (the runtime's poller,
	// the spawner's user namespace) is open before the first count.
	spawnHello(t, sp, Spec{Mounts: granted}, true)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				stages   []string
				dir      string
				cgroups  map[string]string
				launched int
			}
			sp.stageHook = func(stage string, j *jailStart) error {
				got.stages = append(got.stages, stage)
				got.cgroups = j.plan.mgr.GetPaths()
				got.dir = j.dir
				if j.cmd != nil {
					got.launched = j.cmd.Process.Pid
				}
				if stage == tt.failAfter {
					return errors.New("injected after " + stage)
				}
				return nil
			}
			defer func() { sp.stageHook = nil }()
			fds, mounts := openFDs(t), mountTable(t)
			spec := tt.spec
			if spec.Path == "" {
				spec.Path = self(t)
			}
			spec.Env = []string{helperEnv + "=hello"}
			p, err := sp.Start(&spec)
			if err == nil {
				_ = p.Kill()
				t.Fatalf("Start succeeded, want an error saying %q", tt.want)
			}
			if !strings.Contains(strings.ToLower(err.Error()), tt.want) {
				t.Errorf("Start: %v, want an error saying %q", err, tt.want)
			}
			if last := lastOf(got.stages); last != tt.reached {
				t.Errorf("the start got through %q (stages %v), want %q", last, got.stages, tt.reached)
			}

			// Only what is left open counts: descriptors of earlier tests'
			// spawners and workers may close meanwhile (their clean-up
			// finishes in the background), and this start closing one
			// it does not own would fail the next start, which the next
			// case makes.
			if _, added := setDiff(fds, openFDs(t)); len(added) != 0 {
				t.Errorf("descriptors left open: %q", added)
			}
			if gone, added := setDiff(mounts, mountTable(t)); len(gone)+len(added) != 0 {
				t.Errorf("mount table: %q gone, %q added", gone, added)
			}
			if ents := stateEntries(sp.o.StateDir); len(ents) != 0 {
				t.Errorf("state directory holds %v", ents)
			}
			if got.dir != "" {
				if _, err := os.Lstat(got.dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("call directory %s left: %v", got.dir, err)
				}
			}
			for c, dir := range got.cgroups {
				if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s cgroup %s left: %v", c, dir, err)
				}
			}
			if got.launched != 0 {
				// The worker was waited for: its PID is free (reuse
				// within the test would be a coincidence).
				if err := unix.Kill(got.launched, 0); !errors.Is(err, unix.ESRCH) {
					t.Errorf("worker %d: kill 0 says %v, want ESRCH", got.launched, err)
				}
			}
		})
	}
	// The spawner still starts workers.
	spawnHello(t, sp, Spec{Mounts: granted}, true)
}

// setDiff returns what is in before only and what is in after only.
func setDiff(before, after []string) (gone, added []string) {
	for _, b := range before {
		if !slices.Contains(after, b) {
			gone = append(gone, b)
		}
	}
	for _, a := range after {
		if !slices.Contains(before, a) {
			added = append(added, a)
		}
	}
	return gone, added
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// openFDs lists this process's descriptors and what each is.
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own descriptor, closed since
		}
		out = append(out, e.Name()+" "+target)
	}
	slices.Sort(out)
	return out
}

// mountTable is this process's mount table, without the mount IDs.
func mountTable(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	return lines
}
