//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkCLIRun measures a whole one-shot `agent-ctl run hello.wasm
// --isolation process` (cached module) as a user's shell sees it, against a
// native fork+exec of the same program built by gcc, in the same run.
func BenchmarkCLIRun(b *testing.B) {
	native := bench.NativeHello(b)
	home := b.TempDir()
	run := func() time.Duration {
		t := time.Now()
		cmd := exec.Command(bin, "run", "--isolation", "process", fixtures.Path("hello.wasm"))
		cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil || string(out) != "hello, world\n" {
			b.Fatalf("agent-ctl run: %v %q", err, out)
		}
		return time.Since(t)
	}
	run() // fill the cache
	var got, nat []time.Duration
	b.ResetTimer()
	for range b.N {
		nat = append(nat, bench.ForkExec(b, native))
		got = append(got, run())
	}
	b.StopTimer()
	bench.Report(b, "cli_run_process_vs_native", got, nat)
}
