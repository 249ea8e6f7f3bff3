package supervisor_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkInvokePooledAudit measures what recording a call costs: a
// pooled call (hello in C, process isolation, so that the walls' cost does
// not hide it) with the audit log fsync'd per line, and in batch mode,
// each against the same call with auditing off, interleaved so that load
// hits both alike. Timed around Invoke, which appends the line.
func BenchmarkInvokePooledAudit(b *testing.B) {
	mod := fixtures.Path("hello.wasm")
	newSup := func(a *supervisor.AuditOptions) *supervisor.Supervisor {
		home := b.TempDir()
		s, err := supervisor.New(&supervisor.Options{Home: home, Pool: &supervisor.PoolOptions{PerTool: 1}, Audit: a})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	sups := map[string]*supervisor.Supervisor{
		"off":   newSup(&supervisor.AuditOptions{Off: true}),
		"line":  newSup(nil),
		"batch": newSup(&supervisor.AuditOptions{Log: &audit.Options{Batch: true}}),
	}
	call := func(s *supervisor.Supervisor, pooled bool) time.Duration {
		if pooled {
			waitRefilled(b, s)
		}
		start := time.Now()
		res, err := s.Invoke(context.Background(), &supervisor.Call{Module: mod, Name: "hello", Stdout: io.Discard,
			Policy: policies.Policy{Isolation: policies.IsolationProcess}})
		d := time.Since(start)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("invoke: %v %+v", err, res)
		}
		return d
	}
	for _, s := range sups {
		call(s, false) // compile; the pool fills for the next
	}
	got := map[string][]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for _, mode := range []string{"off", "line", "batch"} {
			got[mode] = append(got[mode], call(sups[mode], true))
		}
	}
	b.StopTimer()
	bench.Report(b, "invoke_pooled_audit_line_vs_off", got["line"], got["off"])
	bench.Report(b, "invoke_pooled_audit_batch_vs_off", got["batch"], got["off"])
}
