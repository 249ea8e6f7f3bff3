// Command goals reads the output of the benchmarks that `make bench-goals`
// runs (several runs of each, interleaved) and prints issue 18's table:
// each goal with the value of every run, their median, the baseline it is
// a ratio against, and whether the median meets the goal.
//
//	go run ./tests/bench/goals < .cache/bench-goals.txt
//
// A benchmark's summary line is "name key=value …" (tests/bench.Compare and
// the e2e benchmarks print them); a row names one line and one key.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// row is one goal: the value of key on the lines named line.
type row struct {
	what     string
	line     string
	key      string
	invert   bool    // show 1/value (a time ratio shown as a throughput ratio)
	atMost   bool    // the goal is an upper bound, else a lower one
	goal     float64 // in the unit of the shown value
	unit     string
	baseline string
}

var rows = []row{
	{"pooled MCP tools/call, p50", "mcp_call_10ps_vs_client_spawning_native", "ratio", false, true, 1.0, "x", "the client spawning native hello"},
	{"pooled MCP tools/call, p99", "mcp_call_10ps_vs_client_spawning_native", "p99_ratio", false, true, 1.5, "x", "the client spawning native hello"},
	{"pooled MCP tools/call, p50", "mcp_call_10ps_vs_inprocess_mcp_server", "ratio", false, true, 1.5, "x", "an in-process go-sdk tool"},
	{"pooled MCP tools/call, p99", "mcp_call_10ps_vs_inprocess_mcp_server", "p99_ratio", false, true, 2.0, "x", "an in-process go-sdk tool"},
	{"pooled Invoke's transport (call channel), p50", "invoke_pooled_c_container_transport_channel_vs_rpc", "p50_us", false, true, 400, "µs", "go-plugin's net/rpc"},
	{"closed loop, 8 clients, a fresh worker per call", "serve_throughput_vs_native_spawn", "calls_per_s", false, false, 150, "calls/s", "8 native spawners"},
	{"one-shot `run hello.wasm`, spawning", "cli_run_container_vs_native", "ratio", false, true, 10, "x", "native fork+exec"},
	{"one-shot `run hello.wasm`, through serve", "cli_run_daemon_vs_native", "ratio", false, true, 10, "x", "native fork+exec"},
	{"the CLI's start (`--version`)", "cli_version_vs_native", "ratio", false, true, 10, "x", "native fork+exec"},
	{"`logs --filter` over 1 GiB, throughput", "logs_1024mib_vs_grep", "ratio", true, false, 0.5, "x", "grep -F"},
	{"`logs` over 1 GiB, worker peak RSS", "logs_1024mib_vs_grep", "worker_peak_rss_mib", false, true, 64, "MiB", ""},
	{"warm worker RSS", "warm_worker_rss_vs_inprocess_mcp_server", "rss_mib", false, true, 15, "MiB", "an in-process go-sdk server"},
	{"`tools/list` of 1,000 tools, warm", "tools_list_warm_vs_sdk", "p50_us", false, true, 50000, "µs", "a go-sdk server listing the same"},
	{"supervisor idle RSS (`serve`)", "serve_idle_rss_vs_inprocess_mcp_server", "rss_mib", false, true, 30, "MiB", "an in-process go-sdk server"},
}

func main() {
	vals, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goals:", err)
		os.Exit(1)
	}
	fmt.Println("| goal | line | runs | median | goal | met | baseline |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rows {
		v := vals[r.line+" "+r.key]
		if len(v) == 0 {
			fmt.Printf("| %s | %s | not measured | | %s | | %s |\n", r.what, r.line, goalText(r), r.baseline)
			continue
		}
		shown := make([]float64, len(v))
		for i, x := range v {
			shown[i] = x
			if r.invert && x != 0 {
				shown[i] = 1 / x
			}
		}
		runs := make([]string, len(shown))
		for i, x := range shown {
			runs[i] = num(x)
		}
		m := median(shown)
		met := (r.atMost && m <= r.goal) || (!r.atMost && m >= r.goal)
		fmt.Printf("| %s | %s | %s | %s %s | %s | %s | %s |\n", r.what, r.line, strings.Join(runs, ", "), num(m), r.unit, goalText(r), yes(met), r.baseline)
	}
}

// parse collects every "name key=value" of the input, in order, by "name key".
func parse(in io.Reader) (map[string][]float64, error) {
	vals := map[string][]float64{}
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// A summary line may follow the benchmark's name on the same line.
		for i := 0; i+1 < len(f); i++ {
			if !strings.Contains(f[i], "_vs_") || strings.Contains(f[i], "=") || !strings.Contains(f[i+1], "=") {
				continue
			}
			for _, kv := range f[i+1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					break
				}
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					vals[f[i]+" "+k] = append(vals[f[i]+" "+k], x)
				}
			}
			break
		}
	}
	return vals, sc.Err()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func goalText(r row) string {
	op := "≥"
	if r.atMost {
		op = "≤"
	}
	return op + " " + num(r.goal) + " " + r.unit
}

func num(x float64) string {
	if x >= 100 {
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
