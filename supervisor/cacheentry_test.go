//go:build linux

package supervisor_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// swapSpawner replaces the cache entry under its name with garbage just
// before the worker starts, once armed: after the supervisor verified the
// entry, before the worker loads it.
type swapSpawner struct {
	isolation.Spawner
	entry string
	armed atomic.Bool
	err   error
}

func (s *swapSpawner) Start(spec *isolation.Spec) (isolation.Process, error) {
	if s.armed.CompareAndSwap(true, false) {
		tmp := s.entry + ".swap"
		if s.err = os.WriteFile(tmp, []byte("garbage, not compiled code agent-ctl.cwasm1"), 0o600); s.err == nil {
			s.err = os.Rename(tmp, s.entry)
		}
	}
	return s.Spawner.Start(spec)
}

// TestCache_verifiedEntry: a worker loads without a hash only the very
// cache entry the supervisor verified, never whatever the entry's name
// leads to by the time the worker loads it. Under process isolation an
// entry swapped under its name after the check still gives a cache hit of
// the verified code (the descriptor), and the next call finds the garbage,
// refuses it and compiles again. In a container the verified entry is
// mounted from the descriptor, but the kernel mounts no unlinked file: the
// start leaves the mount out, and the worker, seeing no entry, compiles.
// It never sees the garbage.
func TestCache_verifiedEntry(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		home := t.TempDir()
		sup, err := supervisor.New(&supervisor.Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sup.Close() })
		s := &testSupervisor{sup, iso}
		swap := wrapSpawners(t, sup, iso, func(sp isolation.Spawner) *swapSpawner { return &swapSpawner{Spawner: sp} })
		if _, _, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"}); err != nil {
			t.Fatal(err)
		}
		entry := cacheEntry(t, home)
		// What makes the entry unwritable by workers: the supervisor's
		// own file, 0600, in its 0700 directory.
		fi, err := os.Stat(entry)
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.Stat(filepath.Dir(entry))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() || dir.Mode().Perm() != 0o700 {
			t.Fatalf("entry mode %v owner %d, directory mode %v; want 0600, %d, 0700", fi.Mode().Perm(), st.Uid, dir.Mode().Perm(), os.Geteuid())
		}
		swap.entry = entry
		swap.armed.Store(true)
		res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
		if swap.err != nil {
			t.Fatal(swap.err)
		}
		if swap.armed.Load() {
			t.Fatal("the entry was not swapped")
		}
		// Under process isolation the worker maps the descriptor that was
		// checked: a hit of the verified code. In a container the mount of
		// that descriptor is left out (the file is unlinked), and the
		// worker compiles.
		wantHit := iso == policies.IsolationProcess
		if err != nil || res.CacheHit != wantHit || out != "hello, world\n" {
			t.Fatalf("entry swapped after the check: cache hit %v (want %v), out %q, err %v", res != nil && res.CacheHit, wantHit, out, err)
		}
		if !wantHit {
			return
		}
		res, out, _, err = invoke(t, s, supervisor.Call{Module: "hello.wasm"})
		if err != nil || res.CacheHit || out != "hello, world\n" {
			t.Fatalf("call after the swap: cache hit %v, out %q, err %v; want the garbage refused and a compile", res != nil && res.CacheHit, out, err)
		}
	})
}

// pidSpawner records the worker of each Start, the last one last.
type pidSpawner struct {
	isolation.Spawner
	mu   sync.Mutex
	pids []int
}

func (s *pidSpawner) Start(spec *isolation.Spec) (isolation.Process, error) {
	p, err := s.Spawner.Start(spec)
	if err == nil {
		s.mu.Lock()
		s.pids = append(s.pids, p.Pid())
		s.mu.Unlock()
	}
	return p, err
}

func (s *pidSpawner) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pids[len(s.pids)-1]
}

// execMappings returns the permissions of pid's mappings of the file with
// inode ino, from /proc/PID/maps ("addr perms offset dev inode path").
func execMappings(t *testing.T, pid int, ino uint64) (perms []string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 5 && f[4] == strconv.FormatUint(ino, 10) {
			perms = append(perms, f[1])
		}
	}
	return perms
}

// TestCache_workerMapsEntry: a prepared worker maps its verified cache
// entry, executable, in place (the page cache's copy, shared by every
// worker), behind both walls; in a container from the read-only mount made
// from the supervisor's descriptor. Before, a container worker read the
// entry into its heap (its mount was noexec) and had no mapping of it. An
// entry tampered with after it was verified is refused and compiled again,
// and the tampered file is never mapped.
func TestCache_workerMapsEntry(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		home := t.TempDir()
		sup, err := supervisor.New(&supervisor.Options{Home: home, Pool: &supervisor.PoolOptions{PerTool: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sup.Close() })
		rec := wrapSpawners(t, sup, iso, func(sp isolation.Spawner) *pidSpawner { return &pidSpawner{Spawner: sp} })
		s := &testSupervisor{sup, iso}
		// The first call compiles and caches; the worker that refills the
		// pool is prepared from the cache entry.
		if _, _, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"}); err != nil {
			t.Fatal(err)
		}
		entry := cacheEntry(t, home)
		var st unix.Stat_t
		if err := unix.Stat(entry, &st); err != nil {
			t.Fatal(err)
		}
		waitRefilled(t, sup)
		perms := execMappings(t, rec.last(), st.Ino)
		if !slices.ContainsFunc(perms, func(p string) bool { return strings.Contains(p, "x") }) {
			t.Errorf("the prepared worker maps the entry as %v, want an executable mapping of it", perms)
		}
		res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
		if err != nil || !res.Pooled || !res.CacheHit || out != "hello, world\n" {
			t.Fatalf("pooled call: %v (pooled %v, cache hit %v, out %q)", err, res != nil && res.Pooled, res != nil && res.CacheHit, out)
		}

		// Tampered in place, same file: one byte of the code flipped.
		waitRefilled(t, sup)
		f, err := os.OpenFile(entry, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, st.Size/2); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, st.Size/2); err != nil {
			t.Fatal(err)
		}
		f.Close()
		// A supervisor that has not verified the entry before (a one-shot
		// run's) checks it, refuses it and leaves it to the worker, which
		// checks it by name as any entry, refuses it and compiles.
		one, err := supervisor.New(&supervisor.Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { one.Close() })
		res, out, _, err = invoke(t, &testSupervisor{one, iso}, supervisor.Call{Module: "hello.wasm"})
		if err != nil || out != "hello, world\n" {
			t.Fatalf("call after tampering: %v, out %q", err, out)
		}
		if res.CacheHit {
			t.Errorf("call after tampering: a cache hit, want the tampered entry refused and the module compiled")
		}
	})
}
