//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/bench"
)

// latencyStats is the latency step's report (client-side milliseconds).
type latencyStats struct {
	OK, IsError int
	LatencyMs   struct{ P50, P99 float64 }
}

// clientLatency runs one client.mjs series and returns its numbers.
func clientLatency(b *testing.B, transport map[string]any, step map[string]any) latencyStats {
	b.Helper()
	node, dir := mcpHarnessB(b)
	spec, _ := json.Marshal(map[string]any{"timeoutMs": 600000, "transport": transport, "steps": []map[string]any{step}})
	out, err := exec.Command(node, filepath.Join(dir, "client.mjs"), "--spec-json", string(spec)).Output()
	var r struct {
		OK    bool
		Steps []struct {
			Data latencyStats
		}
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil || !r.OK || len(r.Steps) != 1 {
		b.Fatalf("client: %v %v\n%s", err, jerr, out)
	}
	s := r.Steps[0].Data
	if s.IsError != 0 || s.OK == 0 {
		b.Fatalf("series had %d isError results, %d ok:\n%s", s.IsError, s.OK, out)
	}
	return s
}

func mcpHarnessB(b *testing.B) (string, string) {
	node, dir := envHarness()
	if node == "" {
		b.Skip("the real MCP clients are installed by `make mcp-deps`; run through `make bench`")
	}
	return node, dir
}

// BenchmarkMCPCall measures tools/call of hello through the official
// TypeScript SDK client over stdio, at an agent's pace (10 calls a second)
// and back to back, against two baselines measured by the same client in
// the same run: (a) the client spawning hello.c built by gcc itself, and
// (b) the same client calling a hello tool that a minimal go-sdk server
// answers in process, with no sandbox at all. agent-ctl runs each call in
// a fresh worker behind both walls (container isolation), taken from its
// warm pool.
func BenchmarkMCPCall(b *testing.B) {
	native := bench.NativeHello(b)
	home := installHelloB(b)
	inproc := filepath.Join(b.TempDir(), "inproc")
	if out, err := exec.Command("go", "build", "-o", inproc, "github.com/agent-ctl/agent-ctl/tests/mcp/inproc").CombinedOutput(); err != nil {
		b.Fatalf("building the in-process baseline: %v\n%s", err, out)
	}
	count := max(b.N, 20)
	agent := map[string]any{"type": "stdio", "command": bin, "args": []string{"--home", home, "mcp"}}
	minimal := map[string]any{"type": "stdio", "command": inproc}
	call := func(rate int) map[string]any {
		return map[string]any{"op": "latency", "name": "hello", "args": map[string]any{"name": "bench"},
			"count": count, "ratePerSec": rate, "warmup": 10}
	}
	b.ResetTimer()
	paced := clientLatency(b, agent, call(10))
	nativePaced := clientLatency(b, minimal, map[string]any{"op": "spawnLatency", "command": native,
		"count": count, "ratePerSec": 10, "warmup": 10})
	inprocPaced := clientLatency(b, minimal, call(10))
	burst := clientLatency(b, agent, call(0))
	nativeBurst := clientLatency(b, minimal, map[string]any{"op": "spawnLatency", "command": native, "count": count, "warmup": 10})
	b.StopTimer()
	report := func(name string, got, base latencyStats) {
		fmt.Printf("%s ratio=%.2f p50_ms=%.2f p99_ms=%.2f baseline_p50_ms=%.2f p99_ratio=%.2f n=%d\n",
			name, got.LatencyMs.P50/base.LatencyMs.P50, got.LatencyMs.P50, got.LatencyMs.P99, base.LatencyMs.P50,
			got.LatencyMs.P99/base.LatencyMs.P99, count)
	}
	if b.N > 1 {
		report("mcp_call_10ps_vs_client_spawning_native", paced, nativePaced)
		report("mcp_call_10ps_vs_inprocess_mcp_server", paced, inprocPaced)
		report("mcp_call_backtoback_vs_client_spawning_native", burst, nativeBurst)
	}
	b.ReportMetric(paced.LatencyMs.P50, "p50_ms")
	b.ReportMetric(paced.LatencyMs.P50/nativePaced.LatencyMs.P50, "ratio")
}

func installHelloB(b *testing.B) string {
	home := b.TempDir()
	if out, err := exec.Command(bin, "--home", home, "install", "--yes", "../../modules/hello").CombinedOutput(); err != nil {
		b.Fatalf("install: %v\n%s", err, out)
	}
	return home
}
