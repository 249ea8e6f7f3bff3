package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/metrics"
)

// metricsListenFlag serves /metrics on a listener of its own.
var metricsListenFlag = &cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://`ADDR`/metrics on a listener of their own (loopback, or with serve's TLS; the same bearer tokens as /mcp)"}

// callMetrics are the metrics of one mcp or serve process: calls counted
// from the supervisor's records, the rest read from the supervisor and
// the MCP server when scraped.
type callMetrics struct {
	*metrics.Metrics
	sup atomic.Pointer[supervisor.Supervisor]
	srv atomic.Pointer[mcp.Server]
}

func newCallMetrics() *callMetrics {
	m := &callMetrics{}
	m.Metrics = metrics.New(&metrics.Options{Stats: m.stats})
	return m
}

// bind names the supervisor and server the gauges read.
func (m *callMetrics) bind(sup *supervisor.Supervisor, srv *mcp.Server) {
	m.sup.Store(sup)
	m.srv.Store(srv)
}

func (m *callMetrics) stats() metrics.Stats {
	var st metrics.Stats
	if sup := m.sup.Load(); sup != nil {
		idle, pending := sup.PoolStats()
		starting, _ := sup.Starts()
		st.Prepared, st.Starting, st.InUse = idle, starting+pending, sup.InFlight()
		st.WorkerStarts, st.WorkerStartFailures = sup.WorkerStarts()
	}
	if srv := m.srv.Load(); srv != nil {
		st.Sessions = srv.Sessions()
	}
	return st
}

// serveMetrics starts the --metrics-listen listener, if asked for: behind
// opts' tokens, loopback only unless opts has TLS. It returns its address
// ("" when not asked) and its stop.
func serveMetrics(c *cli.Context, srv *mcp.Server, m *callMetrics, opts *mcp.HTTPOptions) (string, func(), error) {
	addr := c.String("metrics-listen")
	if addr == "" {
		return "", func() {}, nil
	}
	if !mcp.IsLoopback(addr) && opts.TLS == nil {
		return "", nil, usageError{fmt.Sprintf("--metrics-listen %s is not a loopback address: refusing to serve metrics without TLS", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.MetricsHandler(m.Handler(), opts))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: opts.TLS, MaxHeaderBytes: 64 << 10}
	go func() {
		var err error
		if opts.TLS != nil {
			err = hs.ServeTLS(ln, "", "")
		} else {
			err = hs.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(c.App.ErrWriter, "agent-ctl: metrics listener: %v\n", err)
		}
	}()
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String() + "/metrics", func() { _ = hs.Close() }, nil
}
