//go:build unix

package supervisor_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// countingSpawner counts the workers started through it.
type countingSpawner struct {
	isolation.Spawner
	n *atomic.Int64
}

func (c countingSpawner) Start(spec *isolation.Spec) (isolation.Process, error) {
	c.n.Add(1)
	return c.Spawner.Start(spec)
}

// refillEnv is a supervisor with a pool of one worker per tool that
// counts every worker start, and the starts made by the time each call's
// audit line was written (OnCall follows the append).
type refillEnv struct {
	*supervisor.Supervisor
	starts      atomic.Int64
	startsAtLog atomic.Int64
	call        supervisor.Call
}

func newRefillEnv(t *testing.T, iso policies.Isolation) *refillEnv {
	t.Helper()
	e := &refillEnv{call: supervisor.Call{Module: fixtures.Path("hello.wasm"), Name: "hello", Stdout: io.Discard,
		Policy: policies.Policy{Isolation: iso}}}
	s, err := supervisor.New(&supervisor.Options{Home: t.TempDir(), Pool: &supervisor.PoolOptions{PerTool: 1},
		OnCall: func(*audit.Record) { e.startsAtLog.Store(e.starts.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.WrapSpawners(func(sp isolation.Spawner) isolation.Spawner { return countingSpawner{sp, &e.starts} }); err != nil {
		t.Fatal(err)
	}
	e.Supervisor = s
	// The first call starts its own worker, then the pool's.
	if _, err := s.Invoke(context.Background(), &e.call); err != nil {
		t.Fatal(err)
	}
	e.waitRefilled(t)
	return e
}

func (e *refillEnv) waitRefilled(t *testing.T) {
	t.Helper()
	if !testutil.Poll(30*time.Second, func() bool { idle, pending := e.PoolStats(); return idle == 1 && pending == 0 }) {
		idle, pending := e.PoolStats()
		t.Fatalf("pool not refilled: %d idle, %d pending", idle, pending)
	}
}

// TestRefill_afterAuditLine: the pool's replacement for a pooled call's
// worker starts after the call's audit line is written, not while it is
// (the replacement's start competes with the answer for the CPUs). With the
// refill started as the call returned from its worker, ahead of the audit
// line's fsync (as before), it fails in the first round under both walls.
func TestRefill_afterAuditLine(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newRefillEnv(t, iso)
		const rounds = 10
		for i := range rounds {
			before := e.starts.Load()
			res, err := e.Invoke(context.Background(), &e.call)
			if err != nil || !res.Pooled {
				t.Fatalf("round %d: %v (pooled %v)", i, err, res != nil && res.Pooled)
			}
			if got := e.startsAtLog.Load(); got != before {
				t.Fatalf("round %d: %d workers started by the time the audit line was written, want none", i, got-before)
			}
			e.waitRefilled(t)
			if got := e.starts.Load(); got != before+1 {
				t.Fatalf("round %d: %d workers started for the refill, want 1", i, got-before)
			}
		}
	})
}

// TestRefill_waitsForAnswer: with Call.Answered the replacement waits
// until the front-end says its answer is out, and no longer than
// RefillHold when it never says so.
func TestRefill_waitsForAnswer(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newRefillEnv(t, iso)
		answered := make(chan struct{})
		call := e.call
		call.Answered = answered
		before := e.starts.Load()
		res, err := e.Invoke(context.Background(), &call)
		if err != nil || !res.Pooled {
			t.Fatalf("%v (pooled %v)", err, res != nil && res.Pooled)
		}
		returned := time.Now()
		// Nothing must happen here: give the refill time it would have
		// used, well inside RefillHold.
		time.Sleep(supervisor.RefillHold / 5)
		if got := e.starts.Load(); got != before && time.Since(returned) < supervisor.RefillHold {
			t.Fatalf("%d workers started before the answer was out", got-before)
		}
		close(answered)
		e.waitRefilled(t)

		// Never answered: RefillHold later, the pool is refilled anyway.
		call.Answered = make(chan struct{})
		if _, err := e.Invoke(context.Background(), &call); err != nil {
			t.Fatal(err)
		}
		e.waitRefilled(t)
		if got := e.starts.Load(); got != before+2 {
			t.Fatalf("%d workers started for two refills, want 2", got-before)
		}
	})
}

// TestRetire_afterAnswer: with Call.Answered the worker a call used is
// torn down once the answer is out, not while it is written (its exit and
// its namespaces' teardown take CPU); never answered, RefillHold later;
// and at once when the supervisor closes. Without Answered it is killed
// as Invoke returns, as before (TestInvoke_* check that through
// assertReaped). With the teardown started at once (as before), the
// worker was gone before the check below in every run.
func TestRetire_afterAnswer(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		e := newRefillEnv(t, iso)
		call := e.call
		invoke := func() int {
			t.Helper()
			res, err := e.Invoke(context.Background(), &call)
			if err != nil || !res.Pooled {
				t.Fatalf("%v (pooled %v)", err, res != nil && res.Pooled)
			}
			return res.WorkerPid
		}
		alive := func(pid int) bool { return !gone(pid) }

		answered := make(chan struct{})
		call.Answered = answered
		pid := invoke()
		returned := time.Now()
		time.Sleep(supervisor.RefillHold / 5) // a kill takes milliseconds
		if !alive(pid) && time.Since(returned) < supervisor.RefillHold {
			t.Fatalf("worker %d torn down before the answer was out", pid)
		}
		close(answered)
		waitGone(t, pid)

		// Never answered: gone RefillHold later.
		e.waitRefilled(t)
		call.Answered = make(chan struct{})
		waitGone(t, invoke())

		// Never answered, and the supervisor closes: gone with Close.
		e.waitRefilled(t)
		pid = invoke()
		start := time.Now()
		e.Close()
		if !gone(pid) {
			t.Fatalf("worker %d still alive after Close", pid)
		}
		t.Logf("Close took %s", time.Since(start))
	})
}
