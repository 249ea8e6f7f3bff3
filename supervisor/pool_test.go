//go:build unix

package supervisor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// readyPids records the workers the pool reports ready, from its log.
type readyPids struct {
	slog.Handler
	mu   *sync.Mutex
	pids *[]int
}

func (h readyPids) Enabled(context.Context, slog.Level) bool { return true }
func (h readyPids) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "pool: worker ready" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "worker_pid" {
			h.mu.Lock()
			*h.pids = append(*h.pids, int(a.Value.Int64()))
			h.mu.Unlock()
		}
		return true
	})
	return nil
}
func (h readyPids) WithAttrs([]slog.Attr) slog.Handler { return h }

type poolEnv struct {
	*testSupervisor
	mu   sync.Mutex
	pids []int
}

func newPooled(t *testing.T, iso policies.Isolation, o supervisor.PoolOptions) *poolEnv {
	t.Helper()
	e := &poolEnv{}
	s, err := supervisor.New(&supervisor.Options{Home: t.TempDir(), Pool: &o,
		Logger: slog.New(readyPids{slog.DiscardHandler, &e.mu, &e.pids})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.testSupervisor = &testSupervisor{s, iso}
	return e
}

// waitIdle waits until the pool holds n prepared workers.
func (e *poolEnv) waitIdle(t *testing.T, n int) {
	t.Helper()
	var idle, pending int
	if !testutil.Poll(10*time.Second, func() bool {
		idle, pending = e.PoolStats()
		return idle == n && pending == 0
	}) {
		t.Fatalf("pool holds %d idle, %d pending; want %d idle", idle, pending, n)
	}
}

func (e *poolEnv) ready() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.pids...)
}

func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		testutil.Eventually(t, 5*time.Second, func() bool { return gone(pid) }, "prepared worker %d still alive", pid)
	}
}

// TestPool: after the first call of a tool the pool prepares workers
// ahead; later calls take one each (a fresh worker per call, never
// reused), with their own arguments, environment and limits.
func TestPool(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newPooled(t, iso, supervisor.PoolOptions{PerTool: 2})
		res, out, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: "hello.wasm"})
		if err != nil || res.Pooled || out != "hello, world\n" {
			t.Fatalf("first call: %v pooled=%v %q", err, res != nil && res.Pooled, out)
		}
		e.waitIdle(t, 2)
		seen := map[int]bool{res.WorkerPid: true}
		for i, who := range []string{"a", "b", "c", "d"} {
			res, out, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: "hello.wasm", Args: []string{who}})
			if err != nil || out != "hello, "+who+"\n" {
				t.Fatalf("call %d: %v %q", i, err, out)
			}
			if !res.Pooled || res.Timings.Spawn != 0 {
				t.Errorf("call %d not served from the pool (pooled %v, spawn %s)", i, res.Pooled, res.Timings.Spawn)
			}
			if seen[res.WorkerPid] {
				t.Errorf("worker %d served a second call", res.WorkerPid)
			}
			seen[res.WorkerPid] = true
			e.waitIdle(t, 2)
		}

		// Per-call policy on a pooled worker: environment and time limit.
		envRes, out, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: "env.wasm",
			Policy: policies.Policy{Env: []policies.Env{{Key: "K", Value: "1"}}}})
		if err != nil || out != "K=1\nenv: 1 variables\n" {
			t.Fatalf("env first call: %v %q", err, out)
		}
		_ = envRes
		e.waitIdle(t, 4)
		_, out, _, err = invoke(t, e.testSupervisor, supervisor.Call{Module: "env.wasm",
			Policy: policies.Policy{Env: []policies.Env{{Key: "OTHER", Value: "2"}}}})
		if err != nil || out != "OTHER=2\nenv: 1 variables\n" {
			t.Fatalf("pooled env call: %v %q (a previous call's environment leaked?)", err, out)
		}
		res, _, _, err = invoke(t, e.testSupervisor, supervisor.Call{Module: "sleep.wasm", Args: []string{"5000"},
			Policy: policies.Policy{Timeout: 200 * time.Millisecond}})
		if err != nil || res.Outcome != supervisor.TimedOut {
			t.Fatalf("time limit on a pooled worker: %v %+v", err, res)
		}
	})
}

// TestPool_changes: a grant change or a new module version selects other
// workers, and the tool's stale prepared workers are killed.
func TestPool_changes(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newPooled(t, iso, supervisor.PoolOptions{PerTool: 1})
		dirA, dirB := t.TempDir(), t.TempDir()
		os.WriteFile(filepath.Join(dirA, "f"), []byte("A\n"), 0o644)
		os.WriteFile(filepath.Join(dirB, "f"), []byte("B\n"), 0o644)
		call := func(dir string) (*supervisor.Result, string) {
			res, out, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: "cat.wasm", Name: "cat", Args: []string{"/data/f"},
				Policy: policies.Policy{Dirs: []policies.Dir{{Host: dir, Guest: "/data"}}}})
			if err != nil {
				t.Fatal(err)
			}
			return res, out
		}
		if _, out := call(dirA); out != "A\n" {
			t.Fatalf("first call: %q", out)
		}
		e.waitIdle(t, 1)
		stale := e.ready()
		res, out := call(dirB)
		if res.Pooled || out != "B\n" {
			t.Fatalf("after a grant change: pooled %v, read %q (a worker prepared with the old grant served it?)", res.Pooled, out)
		}
		waitGone(t, stale...)
		e.waitIdle(t, 1)
		if res, out := call(dirB); !res.Pooled || out != "B\n" {
			t.Fatalf("pooled with the new grant: %v %q", res.Pooled, out)
		}

		// Another directory under the same name is another grant: the
		// workers prepared with the one before are not used.
		e.waitIdle(t, 1)
		if err := os.Rename(dirB, dirB+".old"); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(dirB, 0o755)
		os.WriteFile(filepath.Join(dirB, "f"), []byte("C\n"), 0o644)
		if res, out := call(dirB); res.Pooled || out != "C\n" {
			t.Fatalf("after the directory was replaced: pooled %v, read %q", res.Pooled, out)
		}

		// A new module version under the same name.
		mod := filepath.Join(t.TempDir(), "tool.wasm")
		copyFile(t, fixtures.Path("hello.wasm"), mod)
		if _, out, _, _ := invoke(t, e.testSupervisor, supervisor.Call{Module: mod, Name: "tool"}); out != "hello, world\n" {
			t.Fatalf("v1: %q", out)
		}
		e.waitIdle(t, 2)
		copyFile(t, fixtures.Path("stdout_stderr.wasm"), mod)
		res, out, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: mod, Name: "tool"})
		if err != nil || res.Pooled || out != "out 1\nout 2\n" {
			t.Fatalf("v2: %v pooled %v %q (the old version ran?)", err, res != nil && res.Pooled, out)
		}
	})
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

// TestPool_lifecycle: idle workers are retired, a prepared worker that
// died is skipped, and Close kills what is left.
func TestPool_lifecycle(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newPooled(t, iso, supervisor.PoolOptions{PerTool: 2, Idle: 300 * time.Millisecond})
		invoke(t, e.testSupervisor, supervisor.Call{Module: "hello.wasm"})
		testutil.Eventually(t, 10*time.Second, func() bool { return len(e.ready()) >= 2 }, "the pool prepared fewer than 2 workers")
		first := e.ready()
		waitGone(t, first...) // retired after Idle
		if idle, _ := e.PoolStats(); idle != 0 {
			t.Fatalf("%d idle workers after the idle time", idle)
		}

		e2 := newPooled(t, iso, supervisor.PoolOptions{PerTool: 1})
		invoke(t, e2.testSupervisor, supervisor.Call{Module: "hello.wasm"})
		e2.waitIdle(t, 1)
		victim := e2.ready()[0]
		syscall.Kill(victim, syscall.SIGKILL)
		waitGone(t, victim)
		res, out, _, err := invoke(t, e2.testSupervisor, supervisor.Call{Module: "hello.wasm"})
		if err != nil || out != "hello, world\n" {
			t.Fatalf("after a prepared worker died: %v %q", err, out)
		}
		if res.WorkerPid == victim {
			t.Fatalf("the dead worker %d was given the call", victim)
		}
		e2.waitIdle(t, 1)
		left := e2.ready()
		last := left[len(left)-1]
		cgs, err := procfs.CgroupDirs(last)
		if err != nil {
			t.Fatal(err)
		}
		e2.Close()
		// Close returns once its workers are gone with all they had: a
		// supervisor that exits right after leaves nothing behind.
		if alive(last) {
			t.Errorf("worker %d still running when Close returned", last)
		}
		if iso == policies.IsolationContainer {
			for _, d := range cgs {
				if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cgroup %s still there when Close returned: %v", d, err)
				}
			}
		}
		if idle, pending := e2.PoolStats(); idle+pending != 0 {
			t.Errorf("after Close: %d idle, %d pending", idle, pending)
		}
	})
}

// TestStartFunction: modules are instantiated ahead of the call only when
// that runs no module code. A start function runs once, in the call, under
// its limits, whether the worker came from the pool or not.
func TestStartFunction(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newPooled(t, iso, supervisor.PoolOptions{PerTool: 1})
		for i := range 2 { // the second call takes a prepared worker
			if i == 1 {
				e.waitIdle(t, 1)
			}
			res, out, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: "startfn.wasm"})
			if err != nil || res.ExitCode != 0 || out != "start ran\nmain ran\n" {
				t.Fatalf("call %d: %v %+v %q", i, err, res, out)
			}
		}
		res, _, _, err := invoke(t, e.testSupervisor, supervisor.Call{Module: "startloop.wasm", Policy: policies.Policy{Timeout: 300 * time.Millisecond}})
		if err != nil || res.Outcome != supervisor.TimedOut {
			t.Fatalf("endless start function: %v %+v", err, res)
		}
	})
}

// TestModuleRewrittenInPlace: a module file overwritten in place (same
// path, same inode) is read and checked again, never served from what the
// supervisor remembered of the old bytes.
func TestModuleRewrittenInPlace(t *testing.T) {
	s := newSupervisor(t, policies.IsolationProcess)
	mod := filepath.Join(t.TempDir(), "tool.wasm")
	write := func(src string) {
		b, err := os.ReadFile(fixtures.Path(src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mod, b, 0o644); err != nil { // truncates in place
			t.Fatal(err)
		}
	}
	write("hello.wasm")
	if _, out, _, err := invoke(t, s, supervisor.Call{Module: mod, Name: "tool"}); err != nil || out != "hello, world\n" {
		t.Fatalf("first: %v %q", err, out)
	}
	write("stdout_stderr.wasm")
	if _, out, _, err := invoke(t, s, supervisor.Call{Module: mod, Name: "tool"}); err != nil || out != "out 1\nout 2\n" {
		t.Fatalf("after rewriting in place: %v %q", err, out)
	}
}

// alive tells whether process pid exists and is not a zombie (dead, waiting
// to be reaped).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
