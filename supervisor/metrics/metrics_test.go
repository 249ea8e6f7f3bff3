package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/supervisor/metrics"
)

// TestObserveCall: calls are counted by tool and outcome, limit hits by
// kind, and the gauges read Stats when scraped.
func TestObserveCall(t *testing.T) {
	m := metrics.New(&metrics.Options{Stats: func() metrics.Stats {
		return metrics.Stats{Prepared: 2, Starting: 1, InUse: 3, WorkerStarts: 7, WorkerStartFailures: 1, Sessions: 4}
	}})
	for _, r := range []*audit.Record{
		{Tool: "hello", Outcome: "exited", DurationMS: 3},
		{Tool: "hello", Outcome: "exited", DurationMS: 4},
		{Tool: "hello", Outcome: "timed out", LimitHit: "time", DurationMS: 30000},
		{Tool: "fetch", Outcome: "memory limit", LimitHit: "memory", DurationMS: 20},
		{Tool: "fetch", Outcome: "error", DurationMS: 1},
	} {
		m.ObserveCall(r)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	for _, want := range []string{
		`agentctl_calls_total{outcome="exited",tool="hello"} 2`,
		`agentctl_calls_total{outcome="timed out",tool="hello"} 1`,
		`agentctl_calls_total{outcome="memory limit",tool="fetch"} 1`,
		`agentctl_calls_total{outcome="error",tool="fetch"} 1`,
		`agentctl_limit_hits_total{kind="time"} 1`,
		`agentctl_limit_hits_total{kind="memory"} 1`,
		`agentctl_limit_hits_total{kind="output"} 0`,
		`agentctl_call_duration_seconds_count{tool="hello"} 3`,
		`agentctl_call_duration_seconds_bucket{tool="hello",le="0.005"} 2`,
		`agentctl_pool_prepared 2`,
		`agentctl_pool_starting 1`,
		`agentctl_pool_in_use 3`,
		`agentctl_worker_starts_total 7`,
		`agentctl_worker_start_failures_total 1`,
		`agentctl_mcp_sessions 4`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), "\n"+want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
