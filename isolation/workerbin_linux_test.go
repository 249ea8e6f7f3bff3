package isolation

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/bench"
)

// cpuTime is the CPU this process and its reaped children have used.
func cpuTime(tb testing.TB) time.Duration {
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		tb.Fatal(err)
	}
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// BenchmarkWorkerBinary compares two builds of the worker executable,
// started as the supervisor starts them (the call's mounts, three stdio
// pipes, go-plugin's handshake and Dispense) under the jail and under
// process isolation, interleaved in the same rounds: $AGENTCTL_WORKER (or
// bin/agent-ctl-worker) against the baseline $AGENTCTL_WORKER_BASE. Each
// start is timed up to the supervisor's connected client (wall), and its
// whole life, from the spawn to the reaped worker, is charged the CPU this
// process and its children used meanwhile (the kernel's deferred teardown
// of a network namespace runs in a kernel thread, outside either). It
// reports the ratios of the medians:
//
//	AGENTCTL_WORKER_BASE=/tmp/old-worker go test -tags seccomp -run '^$' -bench WorkerBinary -benchtime 40x ./isolation
func BenchmarkWorkerBinary(b *testing.B) {
	exe, base := workerExe(), os.Getenv("AGENTCTL_WORKER_BASE")
	if exe == "" || base == "" {
		b.Skip("needs two worker executables: AGENTCTL_WORKER_BASE and AGENTCTL_WORKER (or bin/agent-ctl-worker from `make build`)")
	}
	m := realMounts(b)
	payloads := [2]spawnPayload{workerPayload(exe, m.Mounts), workerPayload(base, m.Mounts)}
	spawners := []struct {
		name string
		sp   Spawner
	}{
		{"jail", testSpawner(b, &ContainerOptions{Engine: EngineJail})},
		{"process", NewProcess()},
	}
	for _, s := range spawners {
		b.Run(s.name, func(b *testing.B) {
			once := func(p spawnPayload) (up, cpu time.Duration) {
				c0, t0 := cpuTime(b), time.Now()
				stop := p(b, s.sp, func() { up = time.Since(t0) })
				stop()
				return up, cpuTime(b) - c0
			}
			for range 3 { // the page cache and the spawner warm
				once(payloads[0])
				once(payloads[1])
			}
			var up, cpu [2][]time.Duration
			b.ResetTimer()
			for i := range b.N {
				// Alternate which goes first, so that neither always
				// follows the other's teardown.
				for k := range 2 {
					j := (i + k) % 2
					u, c := once(payloads[j])
					up[j], cpu[j] = append(up[j], u), append(cpu[j], c)
				}
			}
			b.StopTimer()
			bench.Report(b, "worker_start_"+s.name+"_vs_base", up[0], up[1])
			bench.Report(b, "worker_life_cpu_"+s.name+"_vs_base", cpu[0], cpu[1])
			fmt.Printf("%s: start to connected p50 %.2f ms (base %.2f), CPU per life p50 %.2f ms (base %.2f), n=%d\n", s.name,
				ms(bench.Percentile(up[0], 50)), ms(bench.Percentile(up[1], 50)),
				ms(bench.Percentile(cpu[0], 50)), ms(bench.Percentile(cpu[1], 50)), b.N)
		})
	}
}
