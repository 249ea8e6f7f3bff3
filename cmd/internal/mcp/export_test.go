package mcp

// Test-only views of the servers' counters: the tests of the per-token
// limit, the connection limit and the output budget read them; callers do
// not.

// InFlight reports the tool calls a token has in flight over HTTP, as
// counted against PerToken.
func (s *Server) InFlight(token string) int {
	s.mu.Lock()
	gates := s.gates
	s.mu.Unlock()
	n := 0
	for _, g := range gates {
		g.mu.Lock()
		n += g.inflight[token]
		g.mu.Unlock()
	}
	return n
}

// Conns reports the open connections, and how many were refused at the
// limit or closed idle to make room.
func (h *HTTPServer) Conns() (open, refused, evicted int64) {
	return h.conn.open.Load(), h.conn.refused.Load(), h.conn.evicted.Load()
}

// BufferedOutput reports the module output the calls in flight hold now
// and the most they held at once (see Options.MaxBufferedOutput).
func (s *Server) BufferedOutput() (now, peak int64) { return s.budget.stats() }

// SyncExamined reports how many installed tools the last Sync loaded and
// compared with what it had published.
func (s *Server) SyncExamined() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.examined
}
