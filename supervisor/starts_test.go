//go:build unix

package supervisor_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/tests/testutil"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

func newMaxStarts(t *testing.T, iso policies.Isolation, n int) *testSupervisor {
	t.Helper()
	s, err := supervisor.New(&supervisor.Options{Home: t.TempDir(), MaxStarts: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &testSupervisor{s, iso}
}

// startCounter wraps a Spawner and counts its Start calls in flight: the
// number of workers being started at once, counted by the spawner the
// supervisor calls rather than by the supervisor's own gauge.
type startCounter struct {
	isolation.Spawner
	// hold keeps each Start in flight a little longer, so that starts
	// that the gate failed to keep apart overlap where the count sees
	// them. It widens the window; it synchronises nothing.
	hold           time.Duration
	inFlight, peak atomic.Int32
	started        atomic.Int32
}

func (c *startCounter) Start(spec *isolation.Spec) (isolation.Process, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	c.started.Add(1)
	time.Sleep(c.hold)
	return c.Spawner.Start(spec)
}

// TestMaxStarts: a burst of calls starts at most MaxStarts workers at a
// time; the others wait their turn, and every call is served.
func TestMaxStarts(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		const limit, calls = 2, 12
		s := newMaxStarts(t, iso, limit)
		counter := wrapSpawners(t, s.Supervisor, iso, func(sp isolation.Spawner) *startCounter {
			return &startCounter{Spawner: sp, hold: 20 * time.Millisecond}
		})
		var peakWaiting atomic.Int32
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if _, wt := s.Starts(); int32(wt) > peakWaiting.Load() {
					peakWaiting.Store(int32(wt))
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
		}()
		var wg sync.WaitGroup
		results := make([]*supervisor.Result, calls)
		errs := make([]error, calls)
		outs := make([]testutil.SyncBuffer, calls)
		for i := range calls {
			wg.Go(func() {
				call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: &outs[i], Stderr: &outs[i]}
				call.Policy.Isolation = iso
				results[i], errs[i] = s.Invoke(context.Background(), call)
			})
		}
		wg.Wait()
		close(stop)
		<-sampled
		var waited int
		for i := range calls {
			if errs[i] != nil || results[i].Outcome != supervisor.Exited || outs[i].String() != "hello, world\n" {
				t.Fatalf("call %d: %v %+v %q", i, errs[i], results[i], outs[i].String())
			}
			if results[i].Timings.Wait > time.Millisecond {
				waited++
			}
		}
		if n := counter.started.Load(); n != calls {
			t.Errorf("the %s spawner started %d workers for %d calls", iso, n, calls)
		}
		if p := counter.peak.Load(); p > limit {
			t.Errorf("%d workers were started at once; the limit is %d", p, limit)
		}
		if peakWaiting.Load() == 0 || waited == 0 {
			t.Errorf("no call of %d waited for its turn (peak waiting %d)", calls, peakWaiting.Load())
		}
		if st, wt := s.Starts(); st != 0 || wt != 0 {
			t.Errorf("after the burst: %d starting, %d waiting", st, wt)
		}
	})
}

// holdTheTurn starts the first call of a Go module, which compiles it
// (about a second) while it holds the only turn to start a worker, and
// returns once it holds it; the call's error arrives on the channel.
func holdTheTurn(t *testing.T, s *supervisor.Supervisor) <-chan error {
	t.Helper()
	slow := make(chan error, 1)
	go func() {
		call := &supervisor.Call{Module: filepath.Join(fixtures.Dir(), "..", "..", "modules", "hello", "hello-go.wasm")}
		call.Policy.Isolation = policies.IsolationProcess
		_, err := s.Invoke(context.Background(), call)
		slow <- err
	}()
	if !testutil.Poll(10*time.Second, func() bool { st, _ := s.Starts(); return st == 1 }) {
		t.Fatal("the Go module's call never started a worker")
	}
	return slow
}

// TestMaxStarts_cancelWhileWaiting: a call whose context ends while it
// waits for its turn returns Cancelled at once and starts no worker.
func TestMaxStarts_cancelWhileWaiting(t *testing.T) {
	s := newMaxStarts(t, policies.IsolationProcess, 1)
	slow := holdTheTurn(t, s.Supervisor)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	call := &supervisor.Call{Module: fixtures.Path("hello.wasm")}
	call.Policy.Isolation = policies.IsolationProcess
	res, err := s.Invoke(ctx, call)
	if err != nil || res.Outcome != supervisor.Cancelled || res.WorkerPid != 0 {
		t.Fatalf("cancelled while waiting: %v %+v", err, res)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("the cancelled call returned after %s", d)
	}
	if _, wt := s.Starts(); wt != 0 {
		t.Errorf("%d calls still counted as waiting", wt)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// TestMaxStarts_poolWhileWaiting: a call that waited for its turn takes a
// worker the pool prepared meanwhile rather than starting one of its own.
func TestMaxStarts_poolWhileWaiting(t *testing.T) {
	s, err := supervisor.New(&supervisor.Options{Home: t.TempDir(), MaxStarts: 1,
		Pool: &supervisor.PoolOptions{PerTool: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ts := &testSupervisor{s, policies.IsolationProcess}
	waitIdle := func() {
		t.Helper()
		if !testutil.Poll(10*time.Second, func() bool { idle, _ := s.PoolStats(); return idle == 1 }) {
			t.Fatal("the pool prepared no worker")
		}
	}
	invoke(t, ts, supervisor.Call{Module: "hello.wasm"}) // the pool prepares one
	waitIdle()
	slow := holdTheTurn(t, s)
	// Called directly, back to back (invoke would wait for each worker to
	// be reaped in between, time enough for the pool to refill).
	hello := func() (*supervisor.Result, string, error) {
		var out testutil.SyncBuffer
		call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: &out}
		call.Policy.Isolation = policies.IsolationProcess
		res, err := s.Invoke(context.Background(), call)
		return res, out.String(), err
	}
	// This call takes the prepared worker; the pool starts preparing the
	// next one as it returns, which takes milliseconds.
	res, out, err := hello()
	if err != nil || !res.Pooled || out != "hello, world\n" {
		t.Fatalf("second call: %v %+v %q", err, res, out)
	}
	// So this one finds the pool empty, waits for the turn the compile
	// holds, and by then the pool has a worker for it.
	res, out, err = hello()
	if err != nil || out != "hello, world\n" {
		t.Fatalf("third call: %v %+v %q", err, res, out)
	}
	if res.Timings.Wait < 10*time.Millisecond {
		t.Fatalf("the third call did not wait for its turn (%s): the test did not set up what it checks", res.Timings.Wait)
	}
	if !res.Pooled {
		t.Errorf("after waiting %s the call started its own worker though the pool had one ready", res.Timings.Wait)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}
