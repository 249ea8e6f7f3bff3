//go:build linux && cgo

package supervisor_test

import (
	"io"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkInvokeChannel measures a pooled call of C hello whose
// arguments and result cross the call channel against the same call over
// go-plugin's RPC (the path before it), alternating in the same rounds,
// each from its own supervisor with a pool of one, refilled untimed. It
// reports, each as channel against RPC:
//   - _channel_vs_rpc: the whole Invoke;
//   - _round_trip_channel_vs_rpc: the call's round trip (Timings.Call);
//   - _transport_channel_vs_rpc: the round trip less the worker's
//     instantiate and _start;
//   - _supervisor_channel_vs_rpc: the Invoke less the round trip (the
//     supervisor's own work: policy, module check, taking the worker,
//     stdio, draining it).
func BenchmarkInvokeChannel(b *testing.B) {
	for _, iso := range []policies.Isolation{policies.IsolationContainer, policies.IsolationProcess} {
		b.Run(string(iso), func(b *testing.B) {
			home := b.TempDir()
			call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Name: "hello", Stdout: io.Discard, Policy: policies.Policy{Isolation: iso}}
			ch := pooledSupervisor(b, home, call, nil)
			rpc := pooledSupervisor(b, home, call, (*supervisor.Supervisor).RunOverRPC)
			ready := func() {
				waitRefilled(b, ch)
				waitRefilled(b, rpc)
			}
			invoke := func(s *supervisor.Supervisor) supervisor.Timings { return invokePooled(b, s, call) }
			parts := []struct {
				name string
				of   func(supervisor.Timings) time.Duration
			}{
				{"", func(t supervisor.Timings) time.Duration { return t.Total }},
				{"_round_trip", func(t supervisor.Timings) time.Duration { return t.Call }},
				{"_transport", func(t supervisor.Timings) time.Duration { return t.Call - t.Instantiate - t.Run }},
				{"_supervisor", func(t supervisor.Timings) time.Duration { return t.Total - t.Call }},
			}
			got, base := make([][]time.Duration, len(parts)), make([][]time.Duration, len(parts))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				ready()
				// Alternating which goes first keeps order effects (a
				// cache warmed by the other) out of the ratio.
				var tc, tr supervisor.Timings
				if i%2 == 0 {
					b.StartTimer()
					tc = invoke(ch)
					b.StopTimer()
					tr = invoke(rpc)
				} else {
					tr = invoke(rpc)
					b.StartTimer()
					tc = invoke(ch)
					b.StopTimer()
				}
				for j, p := range parts {
					got[j], base[j] = append(got[j], p.of(tc)), append(base[j], p.of(tr))
				}
			}
			for j, p := range parts {
				bench.Report(b, "invoke_pooled_c_"+string(iso)+p.name+"_channel_vs_rpc", got[j], base[j])
			}
		})
	}
}
