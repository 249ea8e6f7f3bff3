package supervisor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

func itoa(i int) string { return strconv.Itoa(i) }

func sha256File(tb testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitRefilled waits until s has a prepared worker again, as an agent's
// pace between calls allows; benchmarks call it outside what they time.
func waitRefilled(tb testing.TB, s *supervisor.Supervisor) {
	tb.Helper()
	if !testutil.Poll(20*time.Second, func() bool { idle, _ := s.PoolStats(); return idle == 1 }) {
		tb.Fatal("pool not refilled")
	}
}

// invokePooled makes a call that must take a prepared worker and exit 0,
// and returns its timings.
func invokePooled(tb testing.TB, s *supervisor.Supervisor, call *supervisor.Call) supervisor.Timings {
	tb.Helper()
	res, err := s.Invoke(context.Background(), call)
	if err != nil || !res.Pooled || res.ExitCode != 0 {
		tb.Fatalf("invoke: %v (pooled %v)", err, res != nil && res.Pooled)
	}
	return res.Timings
}
