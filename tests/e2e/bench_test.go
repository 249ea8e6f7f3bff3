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

// BenchmarkCLIRun measures a whole one-shot `agent-ctl run hello.wasm`
// (cached module) as a user's shell sees it, hardened (the default
// container isolation) and with --isolation process, against a native
// fork+exec of the same program built by gcc, all in the same run.
func BenchmarkCLIRun(b *testing.B) {
	native := bench.Native(bench.NativeHello(b))
	home := b.TempDir()
	run := func(b *testing.B, iso string) time.Duration {
		t := time.Now()
		cmd := exec.Command(bin, "run", "--isolation", iso, fixtures.Path("hello.wasm"))
		cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+home)
		if out, err := cmd.Output(); err != nil || string(out) != "hello, world\n" {
			b.Fatalf("agent-ctl run: %v %q", err, out)
		}
		return time.Since(t)
	}
	run(b, "process") // fill the cache
	proc := func(b *testing.B) time.Duration { return run(b, "process") }
	cont := func(b *testing.B) time.Duration { return run(b, "container") }
	bench.Compare(b, "cli_run_process_vs_native", proc, native)
	bench.Compare(b, "cli_run_container_vs_native", cont, native)
	bench.Compare(b, "cli_run_container_vs_process", cont, proc)
}
