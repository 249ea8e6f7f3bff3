// Package metrics exports a long-running front-end's calls, warm pool,
// worker starts and MCP sessions in the Prometheus text format. It is the
// one package that imports prometheus/client_golang; it learns of calls
// from the supervisor's audit records (supervisor.Options.OnCall) and
// reads the rest through Options.Stats when scraped.
//
//	m := metrics.New(&metrics.Options{Stats: func() metrics.Stats { ... }})
//	sup, _ := supervisor.New(&supervisor.Options{OnCall: m.ObserveCall})
//	http.Handle("/metrics", m.Handler())
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// Stats is what a scrape reads from the supervisor and the MCP server.
type Stats struct {
	// Prepared are the pool's workers ready for a call, Starting the
	// workers being started (for calls or for the pool), InUse the calls in
	// progress.
	Prepared, Starting, InUse int
	// WorkerStarts and WorkerStartFailures count worker starts since the
	// process began.
	WorkerStarts, WorkerStartFailures uint64
	// Sessions are the MCP sessions open.
	Sessions int
}

// Options configures Metrics.
type Options struct {
	// Stats is read once per scrape for the gauges and start counters; nil
	// reports zeros.
	Stats func() Stats
}

// Metrics holds the registry of one process. Safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limits   *prometheus.CounterVec
}

// durationBuckets span a pooled call (milliseconds) to a long one
// (minutes).
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// New returns the metrics of one process, with Go runtime and process
// collectors.
func New(o *Options) *Metrics {
	stats := func() Stats { return Stats{} }
	if o != nil && o.Stats != nil {
		stats = o.Stats
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentctl_calls_total", Help: "Tool calls by tool and outcome (exited, trapped, timed out, memory limit, output limit, cancelled, error).",
		}, []string{"tool", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agentctl_call_duration_seconds", Help: "Wall-clock time of tool calls, by tool.", Buckets: durationBuckets,
		}, []string{"tool"}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentctl_limit_hits_total", Help: "Calls stopped by a limit, by kind (time, memory, output).",
		}, []string{"kind"}),
	}
	for _, k := range []string{"time", "memory", "output"} {
		m.limits.WithLabelValues(k) // present at zero from the start
	}
	gauge := func(name, help string, f func(Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	counter := func(name, help string, f func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(m.calls, m.duration, m.limits,
		gauge("agentctl_pool_prepared", "Workers the warm pool has prepared (spawned, confined, module loaded), waiting for a call.", func(s Stats) int { return s.Prepared }),
		gauge("agentctl_pool_starting", "Workers being started, for calls or for the pool.", func(s Stats) int { return s.Starting }),
		gauge("agentctl_pool_in_use", "Calls in progress, each holding a worker.", func(s Stats) int { return s.InUse }),
		counter("agentctl_worker_starts_total", "Workers started.", func(s Stats) uint64 { return s.WorkerStarts }),
		counter("agentctl_worker_start_failures_total", "Worker starts that failed.", func(s Stats) uint64 { return s.WorkerStartFailures }),
		gauge("agentctl_mcp_sessions", "MCP sessions open.", func(s Stats) int { return s.Sessions }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveCall counts one call from its audit record.
func (m *Metrics) ObserveCall(r *audit.Record) {
	m.calls.WithLabelValues(r.Tool, r.Outcome).Inc()
	m.duration.WithLabelValues(r.Tool).Observe((time.Duration(r.DurationMS*1e3) * time.Microsecond).Seconds())
	if r.LimitHit != "" {
		m.limits.WithLabelValues(r.LimitHit).Inc()
	}
}

// Handler serves the metrics in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
