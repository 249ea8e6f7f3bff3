package supervisor

import (
	"context"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
)

// Test-only views of a Supervisor's state: the tests of the start gate, the
// pool and the refusal of the state directory need them; callers do not.

// Home is the state directory in use.
func (s *Supervisor) Home() string { return s.home }

// WrapSpawners replaces the spawners of both isolations with what wrap
// makes of them, so that a test can watch every Spawner.Start the
// supervisor makes. Call it before the first call.
func (s *Supervisor) WrapSpawners(wrap func(isolation.Spawner) isolation.Spawner) error {
	s.process = wrap(s.process)
	c, err := s.spawner(policies.IsolationContainer)
	if err != nil {
		return err
	}
	s.container = wrap(c)
	return nil
}

// Precompile is PrecompileDigest of a module whatever its digest: the
// tests precompile fixtures by path.
func (s *Supervisor) Precompile(ctx context.Context, module string, iso policies.Isolation) (*Result, error) {
	return s.Invoke(ctx, &Call{Module: module, Policy: policies.Policy{Isolation: iso}, prepareOnly: true})
}

// RunOverRPC makes the supervisor send its calls over go-plugin's RPC, not
// their call channel, for benchmarks that compare the two.
func (s *Supervisor) RunOverRPC() { s.runOverRPC = true }

// SetVerifiedEntries turns the handing of verified cache entries to workers
// on or off, so that a benchmark can measure both in the same run.
func (s *Supervisor) SetVerifiedEntries(on bool) { s.entriesOff = !on }

// RefillEarly starts the pool's refill for each call before its audit line
// is written, and retires its worker at once, without waiting for
// Call.Answered, as before issue 18, for benchmarks that compare the two.
func (s *Supervisor) RefillEarly() { s.refillEarly = true }
