package fleet_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkFanOut measures one `fleet call` to N agents against the same
// N calls made one after another on this host through the same catalog
// and warm-pooled supervisor (what N local `tools/call`s cost), in
// interleaved rounds: ratio = fleet / local. The agents share the host's
// supervisor, so the ratio is NATS's overhead plus what the fan-out wins
// by running the N calls at once; on 2 cores the calls themselves compete.
func BenchmarkFanOut(b *testing.B) {
	home := b.TempDir()
	c, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cat, err := catalog.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	dir := fixtures.ToolDir(b, "hello", "hello.wasm", `"inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}}, "args": {"positional": ["name"]}`)
	if _, err := cat.Store().Install(dir); err != nil {
		b.Fatal(err)
	}
	sup, err := supervisor.New(&supervisor.Options{Home: b.TempDir(), Pool: &supervisor.PoolOptions{PerTool: 10, Total: 12}})
	if err != nil {
		b.Fatal(err)
	}
	defer sup.Close()
	local := &fleet.Local{Catalog: cat, Supervisor: sup}
	var names []string
	for i := range 10 {
		name := fmt.Sprintf("n%d", i)
		creds := fleet.JoinTokenFile(b, c.Identity(), name, 0)
		a, err := fleet.StartAgent(local, fleet.AgentOptions{URL: c.URL(), Name: name, Creds: creds, Concurrency: 10})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close(context.Background())
		names = append(names, name)
	}
	cl, err := fleet.Dial(c.URL(), c.AdminCreds(), "")
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	req := fleet.CallRequest{Tool: "hello", Argv: []string{"bench"}}
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var fleetT, localT, nodeT []time.Duration
			// Both sides find the pool as full as N calls need: a pool
			// still refilling from the other side's calls would charge
			// a spawn to whichever side comes second.
			refilled := func() {
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					if idle, pending := sup.PoolStats(); idle >= n && pending == 0 {
						return
					}
				}
				b.Fatal("the pool did not refill within a minute")
			}
			local.Call(ctx, &req, io.Discard, io.Discard, nil) // the pool learns the tool
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				refilled()
				b.StartTimer()
				t0 := time.Now()
				for _, r := range cl.Call(ctx, names[:n], req, 60*time.Second) {
					if r.ExitCode != 0 {
						b.Fatalf("%s: %+v", r.Node, r)
					}
					nodeT = append(nodeT, time.Duration(r.Duration*float64(time.Second)))
				}
				fleetT = append(fleetT, time.Since(t0))
				b.StopTimer()
				refilled()
				t0 = time.Now()
				for range n {
					lctx, lcancel := context.WithTimeout(ctx, 60*time.Second)
					r := local.Call(lctx, &req, io.Discard, io.Discard, nil)
					lcancel()
					if r.ExitCode != 0 {
						b.Fatalf("local: %+v", r)
					}
				}
				localT = append(localT, time.Since(t0))
			}
			slices.Sort(fleetT)
			slices.Sort(localT)
			slices.Sort(nodeT)
			b.ReportMetric(float64(nodeT[len(nodeT)/2].Microseconds()), "node_call_p50_us")
			f, l := fleetT[len(fleetT)/2], localT[len(localT)/2]
			b.ReportMetric(float64(f.Microseconds()), "fleet_p50_us")
			b.ReportMetric(float64(l.Microseconds()), "local_p50_us")
			b.ReportMetric(float64(f)/float64(l), "ratio")
		})
	}
}
