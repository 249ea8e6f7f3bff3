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
	native := bench.Native(bench.NativeHello(b))
	s, err := supervisor.New(&supervisor.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: io.Discard,
		Policy: policies.Policy{Isolation: policies.IsolationProcess}}
	invoke := func(b *testing.B) supervisor.Timings {
		res, err := s.Invoke(context.Background(), call)
		if err != nil || !res.CacheHit {
			b.Fatalf("invoke: %v (cache hit %v)", err, res != nil && res.CacheHit)
		}
		return res.Timings
	}
	if _, err := s.Invoke(context.Background(), call); err != nil { // fill the cache
		b.Fatal(err)
	}
	h := inProcess(b)
	inProc := func(b *testing.B) *protocol.Result {
		r, err := h.Run(helloRun, nil)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	bench.Compare(b, "invoke_process_vs_native", func(b *testing.B) time.Duration { return invoke(b).Total }, native)
	bench.Compare(b, "invoke_spawn_step_vs_native", func(b *testing.B) time.Duration { return invoke(b).Spawn }, native)
	bench.Compare(b, "invoke_load_step_vs_native", func(b *testing.B) time.Duration { return invoke(b).Load }, native)
	bench.Compare(b, "worker_run_vs_inprocess",
		func(b *testing.B) time.Duration { t := invoke(b); return t.Instantiate + t.Run },
		func(b *testing.B) time.Duration { r := inProc(b); return r.InstantiateTime + r.RunTime })
	bench.Compare(b, "worker_instantiate_vs_inprocess",
		func(b *testing.B) time.Duration { return invoke(b).Instantiate },
		func(b *testing.B) time.Duration { return inProc(b).InstantiateTime })
	bench.Compare(b, "worker_start_vs_inprocess",
		func(b *testing.B) time.Duration { return invoke(b).Run },
		func(b *testing.B) time.Duration { return inProc(b).RunTime })
}

// BenchmarkInvokeContainer measures a whole cached call behind the default
// container walls against the same call with process isolation and against
// a native fork+exec, with the per-step timings of the confined call.
func BenchmarkInvokeContainer(b *testing.B) {
	native := bench.Native(bench.NativeHello(b))
	s, err := supervisor.New(&supervisor.Options{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	call := func(iso policies.Isolation) func(*testing.B) supervisor.Timings {
		return func(b *testing.B) supervisor.Timings {
			res, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"), Stdout: io.Discard,
				Policy: policies.Policy{Isolation: iso}})
			if err != nil {
				b.Fatal(err)
			}
			return res.Timings
		}
	}
	cont, proc := call(policies.IsolationContainer), call(policies.IsolationProcess)
	cont(b) // fill the cache
	bench.Compare(b, "invoke_container_vs_native", func(b *testing.B) time.Duration { return cont(b).Total }, native)
	bench.Compare(b, "invoke_container_vs_process", func(b *testing.B) time.Duration { return cont(b).Total },
		func(b *testing.B) time.Duration { return proc(b).Total })
	bench.Compare(b, "invoke_container_spawn_step_vs_native", func(b *testing.B) time.Duration { return cont(b).Spawn }, native)
	bench.Compare(b, "invoke_container_load_step_vs_native", func(b *testing.B) time.Duration { return cont(b).Load }, native)
}

// BenchmarkCompile measures a cold compile and a cached load of hello.wasm
// inside this process, against the in-process run as the unit.
func BenchmarkCompile(b *testing.B) {
	dir := b.TempDir()
	digest := sha256File(b, fixtures.Path("hello.wasm"))
	var seq int
	req := func(cacheFile string) *protocol.Request {
		seq++
		return &protocol.Request{ModulePath: fixtures.Path("hello.wasm"), Digest: digest, CacheFile: cacheFile,
			CompileOut: filepath.Join(dir, "out-"+itoa(seq)), Memory: policies.DefaultMemory}
	}
	// One compile to produce a cache entry.
	first := req("")
	if _, err := (&worker.Host{}).Prepare(first); err != nil {
		b.Fatal(err)
	}
	cached := first.CompileOut
	h := inProcess(b)
	run := func(b *testing.B) time.Duration {
		r, err := h.Run(helloRun, nil)
		if err != nil {
			b.Fatal(err)
		}
		return r.InstantiateTime + r.RunTime
	}
	bench.Compare(b, "compile_cold_vs_inprocess_run", func(b *testing.B) time.Duration {
		r := req("")
		t := time.Now()
		if _, err := (&worker.Host{}).Prepare(r); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t)
		os.Remove(r.CompileOut)
		return d
	}, run)
	bench.Compare(b, "load_cached_vs_inprocess_run", func(b *testing.B) time.Duration {
		t := time.Now()
		p, err := (&worker.Host{}).Prepare(req(cached))
		if err != nil || !p.CacheHit {
			b.Fatalf("cached load: %v, hit %v", err, p != nil && p.CacheHit)
		}
		return time.Since(t)
	}, run)
}

// BenchmarkInvokePooled measures a whole call that takes a prepared worker
// from the warm pool (the refill is waited for outside the timing, as an
// agent's pace allows) against a native fork+exec of the same program: hello
// in C behind each kind of walls, and the Go and AssemblyScript builds of
// hello behind container walls, each also on its first call (compiled
// module cached, as after install, but no prepared worker yet).
func BenchmarkInvokePooled(b *testing.B) {
	native := bench.Native(bench.NativeHello(b))
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
			pooled := func(b *testing.B) *supervisor.Supervisor {
				s, err := supervisor.New(&supervisor.Options{Home: home, Pool: &supervisor.PoolOptions{PerTool: 1}})
				if err != nil {
					b.Fatal(err)
				}
				return s
			}
			s := pooled(b)
			defer s.Close()
			if first, err := s.Invoke(context.Background(), call); err != nil || first.Pooled || !first.CacheHit || first.ExitCode != 0 {
				b.Fatalf("first call: %v %+v", err, first)
			}
			// The refill is waited for outside the timing, as an agent's
			// pace allows.
			ready := func(b *testing.B) { waitRefilled(b, s) }
			pooledCall := func(b *testing.B) supervisor.Timings { return invokePooled(b, s, call) }
			name := strings.ReplaceAll(tc.name, "/", "_")
			bench.CompareAfter(b, "invoke_pooled_"+name+"_vs_native", ready, func(b *testing.B) time.Duration { return pooledCall(b).Total }, native)
			bench.CompareAfter(b, "invoke_pooled_"+name+"_run_step_vs_whole", ready,
				func(b *testing.B) time.Duration { t := pooledCall(b); return t.Instantiate + t.Run },
				func(b *testing.B) time.Duration { ready(b); return pooledCall(b).Total })
			// The first call of a fresh supervisor (module cached, no
			// prepared worker yet); starting and closing it are not timed.
			var fresh *supervisor.Supervisor
			closeFresh := func() {
				if fresh != nil {
					fresh.Close()
					fresh = nil
				}
			}
			defer closeFresh()
			bench.CompareAfter(b, "invoke_first_call_"+name+"_vs_native", func(b *testing.B) { closeFresh(); fresh = pooled(b) },
				func(b *testing.B) time.Duration {
					res, err := fresh.Invoke(context.Background(), call)
					if err != nil || res.Pooled || res.ExitCode != 0 {
						b.Fatalf("first call: %v %+v", err, res)
					}
					return res.Timings.Total
				}, native)
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
	call := func(b *testing.B, grant bool) time.Duration {
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
	call(b, true) // fill the cache
	bench.Compare(b, "invoke_container_grant_vs_none", func(b *testing.B) time.Duration { return call(b, true) },
		func(b *testing.B) time.Duration { return call(b, false) })
}
