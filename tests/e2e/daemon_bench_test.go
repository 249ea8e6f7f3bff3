//go:build linux

package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkDaemonRun measures a whole one-shot `agent-ctl run hello.wasm`
// (container walls, cached module) handed to a running serve through its
// daemon socket by the front (bin/agent-ctl) and by the full CLI
// (agent-ctl-full beside it: what agent-ctl was before the front); the
// same call spawning its own worker (--no-daemon) through the front, which
// execs the full CLI, and through the full CLI directly; a native
// fork+exec of the gcc build of the same program; and each executable's
// own start (`--version`); interleaved round by round.
func BenchmarkDaemonRun(b *testing.B) {
	native := bench.Native(bench.NativeHello(b))
	full := filepath.Join(filepath.Dir(bin), "agent-ctl-full")
	home := b.TempDir()
	log, _ := startDaemon(b, home)
	run := func(b *testing.B, exe string, args ...string) time.Duration {
		t := time.Now()
		out, err := exec.Command(exe, append([]string{"--home", home}, args...)...).Output()
		d := time.Since(t)
		if err != nil || (args[0] != "--version" && string(out) != "hello, world\n") {
			b.Fatalf("%s %s: %v %q", exe, strings.Join(args, " "), err, out)
		}
		return d
	}
	hello := fixtures.Path("hello.wasm")
	daemon := func(b *testing.B) time.Duration { return run(b, bin, "run", hello) }
	daemonFull := func(b *testing.B) time.Duration { return run(b, full, "run", hello) }
	spawn := func(b *testing.B) time.Duration { return run(b, bin, "--no-daemon", "run", hello) }
	spawnFull := func(b *testing.B) time.Duration { return run(b, full, "--no-daemon", "run", hello) }
	version := func(b *testing.B) time.Duration { return run(b, bin, "--version") }
	versionFull := func(b *testing.B) time.Duration { return run(b, full, "--version") }
	spawn(b) // fill the cache
	daemon(b)
	var d, df, s, sf, n, v, vf []time.Duration
	b.ResetTimer()
	for range b.N {
		d = append(d, daemon(b))
		df = append(df, daemonFull(b))
		s = append(s, spawn(b))
		sf = append(sf, spawnFull(b))
		n = append(n, native(b))
		v = append(v, version(b))
		vf = append(vf, versionFull(b))
	}
	b.StopTimer()
	bench.Report(b, "cli_run_daemon_vs_native", d, n)
	bench.Report(b, "cli_run_daemon_full_vs_native", df, n)
	bench.Report(b, "cli_run_daemon_vs_daemon_full", d, df)
	bench.Report(b, "cli_run_spawn_vs_native", s, n)
	bench.Report(b, "cli_run_daemon_vs_spawn", d, s)
	// What the front adds where it execs the full CLI.
	bench.Report(b, "cli_run_spawn_vs_spawn_full", s, sf)
	bench.Report(b, "cli_version_vs_native", v, n)
	bench.Report(b, "cli_version_full_vs_native", vf, n)
	bench.Report(b, "cli_version_vs_version_full", v, vf)
	// What of a daemon call is the CLI's own start.
	bench.Report(b, "cli_run_daemon_vs_version", d, v)
	if b.N > 1 {
		// How many daemon calls found a prepared worker: the pool refills
		// in the background, and may lag on a loaded machine.
		l := log.String()
		fmt.Printf("cli_run_daemon pooled=%d of %d\n", strings.Count(l, "pooled=true"), strings.Count(l, `msg="call finished"`))
	}
}
