package supervisor_test

import (
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// waitRefilled waits until s has a prepared worker again, as an agent's
// pace between calls allows; benchmarks call it outside what they time.
func waitRefilled(tb testing.TB, s *supervisor.Supervisor) {
	tb.Helper()
	if !testutil.Poll(20*time.Second, func() bool { idle, _ := s.PoolStats(); return idle == 1 }) {
		tb.Fatal("pool not refilled")
	}
}
