//go:build linux && cgo

package supervisor_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// BenchmarkInvokeChannel measures a pooled call of C hello whose
// arguments and result cross the call channel against the same call over
// go-plugin's RPC (the path before it), both in the same rounds: the whole
// Invoke, and the part of it outside the worker's instantiate and _start
// (the transport, the stdio, the supervisor's own work).
func BenchmarkInvokeChannel(b *testing.B) {
	for _, iso := range []policies.Isolation{policies.IsolationContainer, policies.IsolationProcess} {
		b.Run(string(iso), func(b *testing.B) {
			home := b.TempDir()
			call := &supervisor.Call{Module: fixtures.Path("hello.wasm"), Name: "hello", Stdout: io.Discard, Policy: policies.Policy{Isolation: iso}}
			newPooled := func(rpc bool) *supervisor.Supervisor {
				s, err := supervisor.New(&supervisor.Options{Home: home, Pool: &supervisor.PoolOptions{PerTool: 1}})
				if err != nil {
					b.Fatal(err)
				}
				if rpc {
					s.RunOverRPC()
				}
				if _, err := s.Invoke(context.Background(), call); err != nil { // fills the cache, then the pool
					b.Fatal(err)
				}
				return s
			}
			ch, rpc := newPooled(false), newPooled(true)
			defer ch.Close()
			defer rpc.Close()
			ready := func(b *testing.B) {
				for _, s := range []*supervisor.Supervisor{ch, rpc} {
					if !testutil.Poll(20*time.Second, func() bool { idle, _ := s.PoolStats(); return idle == 1 }) {
						b.Fatal("pool not refilled")
					}
				}
			}
			invoke := func(s *supervisor.Supervisor) func(*testing.B) supervisor.Timings {
				return func(b *testing.B) supervisor.Timings {
					res, err := s.Invoke(context.Background(), call)
					if err != nil || !res.Pooled || res.ExitCode != 0 {
						b.Fatalf("invoke: %v (pooled %v)", err, res != nil && res.Pooled)
					}
					return res.Timings
				}
			}
			viaCh, viaRPC := invoke(ch), invoke(rpc)
			total := func(f func(*testing.B) supervisor.Timings) func(*testing.B) time.Duration {
				return func(b *testing.B) time.Duration { return f(b).Total }
			}
			outside := func(f func(*testing.B) supervisor.Timings) func(*testing.B) time.Duration {
				return func(b *testing.B) time.Duration { t := f(b); return t.Total - t.Instantiate - t.Run }
			}
			name := "invoke_pooled_c_" + string(iso)
			bench.CompareAfter(b, name+"_channel_vs_rpc", ready, total(viaCh), func(b *testing.B) time.Duration { ready(b); return total(viaRPC)(b) })
			bench.CompareAfter(b, name+"_outside_run_channel_vs_rpc", ready, outside(viaCh), func(b *testing.B) time.Duration { ready(b); return outside(viaRPC)(b) })
		})
	}
}
