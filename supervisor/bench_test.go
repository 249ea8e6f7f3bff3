//go:build linux

package supervisor_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"github.com/agent-ctl/agent-ctl/worker"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// inProcess prepares hello.wasm in this process with the same Host code a
// worker runs, for the in-process baseline. Its output goes to a pipe that
// a goroutine drains, as a worker's goes to the supervisor.
func inProcess(b testing.TB) *worker.Host {
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	b.Cleanup(func() { pw.Close() })
	path := "/proc/self/fd/" + itoa(int(pw.Fd()))
	h := &worker.Host{StdioPath: func(int) string { return path }}
	digest := sha256File(b, fixtures.Path("hello.wasm"))
	_, err = h.Prepare(&protocol.Request{
		ModulePath: fixtures.Path("hello.wasm"), Digest: digest, Memory: policies.DefaultMemory,
	})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// helloRun is the in-process baseline's call.
var helloRun = &protocol.RunArgs{Args: []string{"hello"}, Timeout: time.Minute}

// BenchmarkInvoke measures a whole cached call with process isolation
// against a native fork+exec of the same program (hello.c by gcc), and the
// instantiate+run step inside the worker against the same step in process.
func BenchmarkInvoke(b *testing.B) {
	native := bench.NativeHello(b)
	s, err := supervisor.New(&supervisor.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: io.Discard,
		Policy: policies.Policy{Isolation: policies.IsolationProcess}}
	if _, err := s.Invoke(context.Background(), call); err != nil { // fill the cache
		b.Fatal(err)
	}
	h := inProcess(b)
	var invoke, nat, inWorker, inProc, spawn, load, wi, wr, pi, pr []time.Duration
	b.ResetTimer()
	for range b.N {
		nat = append(nat, bench.ForkExec(b, native))
		res, err := s.Invoke(context.Background(), call)
		if err != nil || !res.CacheHit {
			b.Fatalf("invoke: %v (cache hit %v)", err, res != nil && res.CacheHit)
		}
		invoke = append(invoke, res.Timings.Total)
		spawn = append(spawn, res.Timings.Spawn)
		load = append(load, res.Timings.Load)
		inWorker = append(inWorker, res.Timings.Instantiate+res.Timings.Run)
		wi = append(wi, res.Timings.Instantiate)
		wr = append(wr, res.Timings.Run)
		r, err := h.Run(helloRun, nil)
		if err != nil {
			b.Fatal(err)
		}
		inProc = append(inProc, r.InstantiateTime+r.RunTime)
		pi = append(pi, r.InstantiateTime)
		pr = append(pr, r.RunTime)
	}
	b.StopTimer()
	bench.Report(b, "worker_instantiate_vs_inprocess", wi, pi)
	bench.Report(b, "worker_start_vs_inprocess", wr, pr)
	bench.Report(b, "invoke_process_vs_native", invoke, nat)
	bench.Report(b, "worker_run_vs_inprocess", inWorker, inProc)
	bench.Report(b, "invoke_spawn_step_vs_native", spawn, nat)
	bench.Report(b, "invoke_load_step_vs_native", load, nat)
}

// BenchmarkInvokeContainer measures a whole cached call behind the default
// container walls against the same call with process isolation and against
// a native fork+exec, with the per-step timings of the confined call.
func BenchmarkInvokeContainer(b *testing.B) {
	native := bench.NativeHello(b)
	s, err := supervisor.New(&supervisor.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	call := func(iso policies.Isolation) *supervisor.Result {
		res, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: io.Discard,
			Policy: policies.Policy{Isolation: iso}})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	call(policies.IsolationContainer) // fill the cache
	var cont, proc, nat, spawn, load []time.Duration
	b.ResetTimer()
	for range b.N {
		nat = append(nat, bench.ForkExec(b, native))
		proc = append(proc, call(policies.IsolationProcess).Timings.Total)
		r := call(policies.IsolationContainer)
		cont = append(cont, r.Timings.Total)
		spawn = append(spawn, r.Timings.Spawn)
		load = append(load, r.Timings.Load)
	}
	b.StopTimer()
	bench.Report(b, "invoke_container_vs_native", cont, nat)
	bench.Report(b, "invoke_container_vs_process", cont, proc)
	bench.Report(b, "invoke_container_spawn_step_vs_native", spawn, nat)
	bench.Report(b, "invoke_container_load_step_vs_native", load, nat)
}

// BenchmarkCompile measures a cold compile and a cached load of hello.wasm
// inside this process, against the in-process run as the unit.
func BenchmarkCompile(b *testing.B) {
	dir := b.TempDir()
	digest := sha256File(b, fixtures.Path("hello.wasm"))
	req := func(i int, cacheFile string) *protocol.Request {
		return &protocol.Request{ModulePath: fixtures.Path("hello.wasm"), Digest: digest, CacheFile: cacheFile,
			CompileOut: filepath.Join(dir, "out-"+itoa(i)), Memory: policies.DefaultMemory}
	}
	// One compile to produce a cache entry.
	if _, err := (&worker.Host{}).Prepare(req(-1, "")); err != nil {
		b.Fatal(err)
	}
	cached := filepath.Join(dir, "out--1")
	h := inProcess(b)
	var cold, warm, run []time.Duration
	b.ResetTimer()
	for i := range b.N {
		t := time.Now()
		if _, err := (&worker.Host{}).Prepare(req(i, "")); err != nil {
			b.Fatal(err)
		}
		cold = append(cold, time.Since(t))
		os.Remove(filepath.Join(dir, "out-"+itoa(i)))
		t = time.Now()
		p, err := (&worker.Host{}).Prepare(req(i, cached))
		if err != nil || !p.CacheHit {
			b.Fatalf("cached load: %v, hit %v", err, p != nil && p.CacheHit)
		}
		warm = append(warm, time.Since(t))
		r, err := h.Run(helloRun, nil)
		if err != nil {
			b.Fatal(err)
		}
		run = append(run, r.InstantiateTime+r.RunTime)
	}
	b.StopTimer()
	bench.Report(b, "compile_cold_vs_inprocess_run", cold, run)
	bench.Report(b, "load_cached_vs_inprocess_run", warm, run)
}

// BenchmarkInvokePooled measures a whole call that takes a prepared worker
// from the warm pool (the refill is waited for outside the timing, as an
// agent's pace allows) against a native fork+exec of the same program: hello
// in C behind each kind of walls, and the Go and AssemblyScript builds of
// hello behind container walls, each also on its first call (compiled
// module cached, as after install, but no prepared worker yet).
func BenchmarkInvokePooled(b *testing.B) {
	native := bench.NativeHello(b)
	hello := func(name string) string { return filepath.Join(fixtures.Dir(), "..", "..", "modules", "hello", name) }
	for _, tc := range []struct {
		name   string
		module string
		iso    policies.Isolation
	}{
		{"c/process", fixtures.Path("hello.wasm"), policies.IsolationProcess},
		{"c/container", fixtures.Path("hello.wasm"), policies.IsolationContainer},
		{"go/container", hello("hello-go.wasm"), policies.IsolationContainer},
		{"assemblyscript/container", hello("hello-as.wasm"), policies.IsolationContainer},
	} {
		b.Run(tc.name, func(b *testing.B) {
			home := b.TempDir()
			call := &supervisor.Call{Module: tc.module, Name: "hello", Stdout: io.Discard, Policy: policies.Policy{Isolation: tc.iso}}
			// As install does: compile into the cache.
			pre, err := supervisor.New(&supervisor.Options{Home: home})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pre.Precompile(context.Background(), tc.module, tc.iso); err != nil {
				b.Fatal(err)
			}
			s, err := supervisor.New(&supervisor.Options{Home: home, Pool: &supervisor.PoolOptions{PerTool: 1}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ready := func() {
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Microsecond) {
					if idle, _ := s.PoolStats(); idle == 1 {
						return
					}
					if time.Now().After(deadline) {
						b.Fatal("pool not refilled")
					}
				}
			}
			first, err := s.Invoke(context.Background(), call)
			if err != nil || first.Pooled || !first.CacheHit || first.ExitCode != 0 {
				b.Fatalf("first call: %v %+v", err, first)
			}
			var pooled, nat, run []time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				ready()
				b.StartTimer()
				nat = append(nat, bench.ForkExec(b, native))
				res, err := s.Invoke(context.Background(), call)
				if err != nil || !res.Pooled || res.ExitCode != 0 {
					b.Fatalf("invoke: %v (pooled %v)", err, res != nil && res.Pooled)
				}
				pooled = append(pooled, res.Timings.Total)
				run = append(run, res.Timings.Instantiate+res.Timings.Run)
			}
			b.StopTimer()
			name := strings.ReplaceAll(tc.name, "/", "_")
			bench.Report(b, "invoke_pooled_"+name+"_vs_native", pooled, nat)
			bench.Report(b, "invoke_first_call_"+name+"_vs_native", []time.Duration{first.Timings.Total}, nat)
			bench.Report(b, "invoke_pooled_"+name+"_run_step_vs_whole", run, pooled)
		})
	}
}

// BenchmarkRSSGrowth makes b.N pooled calls (process isolation, to be
// spawn-light) and reports this process's resident memory after them
// against after a warm-up of 200 calls: a supervisor that serves for days
// must not grow with the number of calls.
func BenchmarkRSSGrowth(b *testing.B) {
	s, err := supervisor.New(&supervisor.Options{Home: b.TempDir(), Pool: &supervisor.PoolOptions{PerTool: 2}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: io.Discard, Policy: policies.Policy{Isolation: policies.IsolationProcess}}
	do := func(n int) {
		for range n {
			if res, err := s.Invoke(context.Background(), call); err != nil || res.ExitCode != 0 {
				b.Fatalf("invoke: %v", err)
			}
		}
	}
	do(200)
	runtime.GC()
	before := procfs.KiB(b, os.Getpid(), "VmRSS")
	b.ResetTimer()
	do(b.N)
	b.StopTimer()
	runtime.GC()
	after := procfs.KiB(b, os.Getpid(), "VmRSS")
	if b.N > 1 {
		fmt.Printf("rss_after_calls_vs_after_warmup ratio=%.3f rss_after_mib=%.1f baseline_mib=%.1f n=%d\n",
			float64(after)/float64(before), float64(after)/1024, float64(before)/1024, b.N)
	}
	b.ReportMetric(float64(after-before)/1024, "growth_MiB")
}

// BenchmarkInvokeGrant measures a whole cached container call with one
// granted directory (cat.wasm reading a file in it), and the same call
// without the grant: what a grant adds to a start (opening it without
// following links, checking it by identity, mounting it from the
// descriptor). Reported per call, as medians.
func BenchmarkInvokeGrant(b *testing.B) {
	s, err := supervisor.New(&supervisor.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "a", "b")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	call := func(grant bool) time.Duration {
		c := &supervisor.Call{Module: fixtures.Path("cat.wasm"), Args: []string{"/data/f"}, Stdout: io.Discard, Stderr: io.Discard,
			Policy: policies.Policy{Isolation: policies.IsolationContainer}}
		if grant {
			c.Policy.Dirs = []policies.Dir{{Host: dir, Guest: "/data"}}
		}
		res, err := s.Invoke(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		if grant && res.ExitCode != 0 {
			b.Fatalf("cat exited %d", res.ExitCode)
		}
		return res.Timings.Total
	}
	call(true) // fill the cache
	var with, without []time.Duration
	b.ResetTimer()
	for range b.N {
		with = append(with, call(true))
		without = append(without, call(false))
	}
	b.StopTimer()
	bench.Report(b, "invoke_container_grant_vs_none", with, without)
}
