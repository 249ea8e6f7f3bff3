package supervisor

// Views of a Supervisor's workers for the metrics of long-running
// front-ends (serve, mcp), read when scraped.

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
