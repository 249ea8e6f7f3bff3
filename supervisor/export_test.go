package supervisor

import (
	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
)

// Test-only views of a Supervisor's state: the tests of the start gate, the
// pool and the refusal of the state directory need them; callers do not.

// Starts reports how many workers are being started for calls, and how
// many calls wait for their turn to start one (see Options.MaxStarts).
func (s *Supervisor) Starts() (starting, waiting int) {
	return int(s.starting.Load()), int(s.waiting.Load())
}

// PoolStats reports how many prepared workers wait, and how many are
// being prepared; zero without a pool.
func (s *Supervisor) PoolStats() (idle, pending int) {
	if s.pool == nil {
		return 0, 0
	}
	return s.pool.stats()
}

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

// RunOverRPC makes the supervisor send its calls over go-plugin's RPC, not
// their call channel, for benchmarks that compare the two.
func (s *Supervisor) RunOverRPC() { s.runOverRPC = true }
