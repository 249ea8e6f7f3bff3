//go:build linux

package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkDaemonRun measures a whole one-shot `agent-ctl run hello.wasm`
// (container walls, cached module) handed to a running serve through its
// daemon socket, the same call spawning its own worker (--no-daemon), a
// native fork+exec of the gcc build of the same program, and the CLI's
// own start (`agent-ctl --version`), interleaved round by round.
func BenchmarkDaemonRun(b *testing.B) {
	native := bench.Native(bench.NativeHello(b))
	home := b.TempDir()
	log, _ := startDaemon(b, home)
	run := func(b *testing.B, args ...string) time.Duration {
		t := time.Now()
		out, err := exec.Command(bin, append([]string{"--home", home}, args...)...).Output()
		d := time.Since(t)
		if err != nil || (args[0] != "--version" && string(out) != "hello, world\n") {
			b.Fatalf("agent-ctl %s: %v %q", strings.Join(args, " "), err, out)
		}
		return d
	}
	hello := fixtures.Path("hello.wasm")
	daemon := func(b *testing.B) time.Duration { return run(b, "run", hello) }
	spawn := func(b *testing.B) time.Duration { return run(b, "--no-daemon", "run", hello) }
	version := func(b *testing.B) time.Duration { return run(b, "--version") }
	spawn(b) // fill the cache
	daemon(b)
	var d, s, n, v []time.Duration
	b.ResetTimer()
	for range b.N {
		d = append(d, daemon(b))
		s = append(s, spawn(b))
		n = append(n, native(b))
		v = append(v, version(b))
	}
	b.StopTimer()
	bench.Report(b, "cli_run_daemon_vs_native", d, n)
	bench.Report(b, "cli_run_spawn_vs_native", s, n)
	bench.Report(b, "cli_run_daemon_vs_spawn", d, s)
	bench.Report(b, "cli_version_vs_native", v, n)
	// What of a daemon call is the CLI's own start.
	bench.Report(b, "cli_run_daemon_vs_version", d, v)
	if b.N > 1 {
		// How many daemon calls found a prepared worker: the pool refills
		// in the background, and may lag on a loaded machine.
		l := log.String()
		fmt.Printf("cli_run_daemon pooled=%d of %d\n", strings.Count(l, "pooled=true"), strings.Count(l, `msg="call finished"`))
	}
}
