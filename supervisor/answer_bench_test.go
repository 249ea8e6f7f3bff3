//go:build linux && cgo

package supervisor_test

import (
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// echoClient stands for an MCP client in another process: the answer is
// written to it and read back (cat), as a client reads the answer and the
// time it takes includes waking that process.
type echoClient struct {
	in  io.WriteCloser
	out io.Reader
	buf []byte
}

func newEchoClient(b *testing.B) *echoClient {
	p := testutil.StartPiped(b, exec.Command("cat"), testutil.Pipes{Stdin: true, Stdout: true})
	return &echoClient{in: p.Stdin, out: p.Stdout, buf: make([]byte, 256)}
}

// answer sends an answer's worth of bytes and waits for them back.
func (e *echoClient) answer(b *testing.B) {
	if _, err := e.in.Write(e.buf); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(e.out, e.buf); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPooledAnswer measures a pooled call of C hello behind container
// walls, audited as by default (fsync'd per line), up to its answer read
// by another process, with the pool's refill started once the answer is
// out (Call.Answered, what the MCP server does) against the refill started
// as the call left its worker (before issue 18), alternating in the same
// rounds, each from its own supervisor with a pool of one, refilled
// untimed. It reports:
//   - pooled_answer_refill_after_vs_before: the whole, Invoke and answer;
//   - pooled_answer_<part>_vs_whole: where the whole goes (refill after):
//     the worker's instantiate and _start, the transport (the round trip
//     less those), the supervisor's own work around the round trip
//     (policy, module check, taking the worker, stdio, draining it), the
//     audit line (Invoke less Timings.Total: check, record, append, fsync)
//     and the answer's trip to the other process.
func BenchmarkPooledAnswer(b *testing.B) {
	home := b.TempDir()
	call := supervisor.Call{Module: fixtures.Path("hello.wasm"), Name: "hello", Stdout: io.Discard,
		Policy: policies.Policy{Isolation: policies.IsolationContainer}}
	after := pooledSupervisor(b, home, &call, nil)
	before := pooledSupervisor(b, home, &call, (*supervisor.Supervisor).RefillEarly)
	client := newEchoClient(b)
	type sample struct {
		whole, audit, answer time.Duration
		t                    supervisor.Timings
	}
	one := func(s *supervisor.Supervisor, gated bool) sample {
		c := call
		var answered chan struct{}
		if gated {
			answered = make(chan struct{})
			c.Answered = answered
		}
		t0 := time.Now()
		res, err := s.Invoke(context.Background(), &c)
		t1 := time.Now()
		if err != nil || !res.Pooled || res.ExitCode != 0 {
			b.Fatalf("invoke: %v (pooled %v)", err, res != nil && res.Pooled)
		}
		client.answer(b)
		t2 := time.Now()
		if gated {
			close(answered)
		}
		return sample{whole: t2.Sub(t0), audit: t1.Sub(t0) - res.Timings.Total, answer: t2.Sub(t1), t: res.Timings}
	}
	var got, base []sample
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		waitRefilled(b, after)
		waitRefilled(b, before)
		if i%2 == 0 {
			b.StartTimer()
			got = append(got, one(after, true))
			b.StopTimer()
			base = append(base, one(before, false))
		} else {
			base = append(base, one(before, false))
			b.StartTimer()
			got = append(got, one(after, true))
			b.StopTimer()
		}
	}
	of := func(ss []sample, f func(sample) time.Duration) []time.Duration {
		ds := make([]time.Duration, len(ss))
		for i, s := range ss {
			ds[i] = f(s)
		}
		return ds
	}
	whole := func(s sample) time.Duration { return s.whole }
	bench.Report(b, "pooled_answer_refill_after_vs_before", of(got, whole), of(base, whole))
	for _, p := range []struct {
		name string
		f    func(sample) time.Duration
	}{
		{"worker", func(s sample) time.Duration { return s.t.Instantiate + s.t.Run }},
		{"transport", func(s sample) time.Duration { return s.t.Call - s.t.Instantiate - s.t.Run }},
		{"supervisor", func(s sample) time.Duration { return s.t.Total - s.t.Call }},
		{"audit", func(s sample) time.Duration { return s.audit }},
		{"answer", func(s sample) time.Duration { return s.answer }},
	} {
		bench.Report(b, "pooled_answer_"+p.name+"_vs_whole", of(got, p.f), of(got, whole))
	}
}
