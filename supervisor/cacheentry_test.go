//go:build linux

package supervisor_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

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
// refuses it and compiles again; in a container the worker sees the
// garbage, whose identity is not the verified one, and compiles.
func TestCache_verifiedEntry(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		home := t.TempDir()
		sup, err := supervisor.New(&supervisor.Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sup.Close() })
		s := &testSupervisor{sup, iso}
		var swap *swapSpawner
		if err := sup.WrapSpawners(func(sp isolation.Spawner) isolation.Spawner {
			w := &swapSpawner{Spawner: sp}
			if sp.Name() == string(iso) {
				swap = w
			}
			return w
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"}); err != nil {
			t.Fatal(err)
		}
		entries, _ := filepath.Glob(filepath.Join(home, "cache", "*.cwasm"))
		if len(entries) != 1 {
			t.Fatalf("cache holds %d entries, want 1", len(entries))
		}
		// What makes the entry unwritable by workers: the supervisor's
		// own file, 0600, in its 0700 directory.
		fi, err := os.Stat(entries[0])
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.Stat(filepath.Dir(entries[0]))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() || dir.Mode().Perm() != 0o700 {
			t.Fatalf("entry mode %v owner %d, directory mode %v; want 0600, %d, 0700", fi.Mode().Perm(), st.Uid, dir.Mode().Perm(), os.Geteuid())
		}
		swap.entry = entries[0]
		swap.armed.Store(true)
		res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
		if swap.err != nil {
			t.Fatal(swap.err)
		}
		if swap.armed.Load() {
			t.Fatal("the entry was not swapped")
		}
		// Under process isolation the worker maps the descriptor that was
		// checked: a hit of the verified code. In a container it sees the
		// entry by name; the swapped file's identity is not the one
		// verified, so the worker checks it, refuses it and compiles.
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
