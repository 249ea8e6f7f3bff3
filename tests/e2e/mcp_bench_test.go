//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
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

// BenchmarkServeThroughput saturates `agent-ctl serve` with 8 concurrent
// TypeScript SDK clients calling hello over Streamable HTTP, each waiting
// for its answer before its next call, every call in a fresh
// container-confined worker, against 8 concurrent native fork+exec spawners
// of hello.c, each waiting for its child, in the same run: calls per second.
// "burst" sends each client's calls all at once instead (N calls in flight):
// the server starts at most --max-starts workers at a time.
func BenchmarkServeThroughput(b *testing.B) {
	b.Run("closed", func(b *testing.B) { serveThroughput(b, "serve_throughput_vs_native_spawn", true) })
	b.Run("burst", func(b *testing.B) { serveThroughput(b, "serve_burst_throughput_vs_native_spawn", false) })
}

func serveThroughput(b *testing.B, name string, sequential bool) {
	native := bench.NativeHello(b)
	home := installHelloB(b)
	out, err := exec.Command(bin, "--home", home, "token", "create", "bench").Output()
	if err != nil {
		b.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	args := []string{"--pool", "4", "--pool-total", "8", "--per-token", "1024"}
	if n := os.Getenv("AGENTCTL_BENCH_SPAWNERS"); n != "" { // to compare refill concurrency
		args = append(args, "--pool-spawners", n)
	}
	if n := os.Getenv("AGENTCTL_BENCH_MAX_STARTS"); n != "" { // to compare start concurrency
		args = append(args, "--max-starts", n)
	}
	url := startServe(b, home, args...)
	calls := max(b.N/8, 4)
	b.ResetTimer()
	var r struct {
		OK    bool
		Steps []struct {
			Data struct {
				OK, IsError int
				WallMs      float64
			}
		}
	}
	node, dir := mcpHarnessB(b)
	spec, _ := json.Marshal(map[string]any{"timeoutMs": 600000,
		"transport": map[string]any{"type": "http", "url": url, "token": token},
		"steps": []map[string]any{{"op": "concurrent", "name": "hello", "args": map[string]any{"name": "c{client}"},
			"clients": 8, "calls": calls, "sequential": sequential}}})
	o, err := exec.Command(node, filepath.Join(dir, "client.mjs"), "--spec-json", string(spec)).Output()
	if jerr := json.Unmarshal(o, &r); jerr != nil || !r.OK || r.Steps[0].Data.OK != 8*calls {
		b.Fatalf("client: %v %v\n%s", err, jerr, o)
	}
	served := float64(8*calls) / (r.Steps[0].Data.WallMs / 1000)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				bench.ForkExec(b, native)
			}
		}()
	}
	wg.Wait()
	nativeRate := float64(8*calls) / time.Since(t0).Seconds()
	b.StopTimer()
	if b.N > 1 {
		fmt.Printf("%s ratio=%.3f calls_per_s=%.1f baseline_per_s=%.1f n=%d\n",
			name, served/nativeRate, served, nativeRate, 8*calls)
	}
	b.ReportMetric(served, "calls/s")
}

// BenchmarkMemory reads resident memory from /proc: agent-ctl serve with
// its pool full (and each prepared worker), against the minimal in-process
// go-sdk server idle, measured in the same run. Each op is one tools/call
// over HTTP; after it, with the timer stopped, the pool's refill is waited
// for and the memory sampled, so that the medians are those of a server
// that has served b.N calls, not of one moment after a fixed sleep.
func BenchmarkMemory(b *testing.B) {
	home := installHelloB(b)
	inproc := filepath.Join(b.TempDir(), "inproc")
	if out, err := exec.Command("go", "build", "-o", inproc, "github.com/agent-ctl/agent-ctl/tests/mcp/inproc").CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	base := exec.Command(inproc)
	stdin, _ := base.StdinPipe()
	if err := base.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); base.Process.Kill(); base.Wait() }()
	const pool = 2
	dropPageCache(b, bin)
	dropPageCache(b, filepath.Join(filepath.Dir(bin), "agent-ctl-worker"))
	url, servePid := startServePid(b, home, "--no-auth", "--pool", strconv.Itoa(pool))
	metrics := strings.TrimSuffix(url, "/mcp") + "/metrics"
	post := func(sid, body string) string {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.Header.Get("Mcp-Session-Id")
	}
	sid := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`)
	post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	call := func(i int) { // the first call fills the pool
		post(sid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"hello","arguments":{}}}`, i+2))
	}
	var serveRSS, baseRSS, workerRSS, workerPSS, workerPrivate []int
	b.ResetTimer()
	for i := range b.N {
		call(i)
		b.StopTimer()
		// At rest: the pool has prepared its workers (module loaded) and
		// starts none. Counting live worker processes alone sampled
		// workers still loading their module, whose memory is not that of
		// a worker at rest (18.6 against 12.5 MiB RSS, 12-07).
		if !testutil.Poll(30*time.Second, func() bool {
			return gauge(b, metrics, "agentctl_pool_prepared") == pool && gauge(b, metrics, "agentctl_pool_starting") == 0
		}) {
			b.Fatal("the pool did not settle with its workers prepared")
		}
		// The worker the call used may linger a moment as a zombie (no
		// memory to read): only the live ones count.
		var workers []int
		if !testutil.Poll(30*time.Second, func() bool {
			workers = slices.DeleteFunc(children(servePid), func(p int) bool {
				st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
				return err != nil || !strings.Contains(string(st), "VmRSS:")
			})
			return len(workers) == pool
		}) {
			b.Fatalf("the pool holds %d workers, want %d", len(workers), pool)
		}
		serveRSS = append(serveRSS, procfs.KiB(b, servePid, "VmRSS"))
		baseRSS = append(baseRSS, procfs.KiB(b, base.Process.Pid, "VmRSS"))
		for _, p := range workers {
			workerRSS = append(workerRSS, procfs.KiB(b, p, "VmRSS"))
			workerPSS = append(workerPSS, smapsKiB(b, p, "Pss"))
			workerPrivate = append(workerPrivate, smapsKiB(b, p, "Private_Clean")+smapsKiB(b, p, "Private_Dirty"))
		}
		b.StartTimer()
	}
	b.StopTimer()
	mib := func(kib []int) float64 { return float64(slices.Sorted(slices.Values(kib))[len(kib)/2]) / 1024 }
	if b.N > 1 {
		fmt.Printf("serve_idle_rss_vs_inprocess_mcp_server ratio=%.2f rss_mib=%.1f baseline_mib=%.1f n=%d\n",
			mib(serveRSS)/mib(baseRSS), mib(serveRSS), mib(baseRSS), b.N)
		// A worker's RSS is mostly the worker binary's text, shared by
		// every worker: its own memory is the private part.
		fmt.Printf("warm_worker_rss_vs_inprocess_mcp_server ratio=%.2f rss_mib=%.1f pss_mib=%.1f private_mib=%.1f baseline_mib=%.1f n=%d\n",
			mib(workerRSS)/mib(baseRSS), mib(workerRSS), mib(workerPSS), mib(workerPrivate), mib(baseRSS), len(workerRSS))
	}
	b.ReportMetric(mib(serveRSS), "serve_rss_MiB")
	b.ReportMetric(mib(workerPrivate), "worker_private_MiB")
	b.ReportMetric(mib(baseRSS), "baseline_rss_MiB")
}

// dropPageCache evicts a file's pages from the page cache, so that they are
// read back from disk as an installed executable's are. A worker binary
// fresh from the linker (which writes it through a shared mapping) sits in
// the page cache in large folios, which the kernel's fault-around maps
// whole: a warm worker's RSS was 17.0-17.5 MiB with it against 12.3-12.7
// MiB once read back, the same file, its private memory the same; serve's
// 45.2-45.7 against 36.4 MiB (12-07).
func dropPageCache(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatalf("evicting %s from the page cache: %v", path, err)
	}
}

// gauge reads one unlabelled gauge of serve's /metrics; -1 when it is
// not there.
func gauge(b *testing.B, url, name string) int {
	res, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	n, err := strconv.ParseFloat(strings.TrimSpace(metricValue(string(body), name)), 64)
	if err != nil {
		return -1
	}
	return int(n)
}

// smapsKiB reads one field of /proc/PID/smaps_rollup.
func smapsKiB(b *testing.B, pid int, field string) int {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	b.Fatalf("no %s for %d", field, pid)
	return 0
}

// children finds the worker processes below pid (for container isolation,
// below libcontainer's init).
func children(pid int) []int {
	var out []int
	for _, p := range procfs.Descendants(pid) {
		if strings.HasPrefix(p.Name, "agent-ctl") {
			out = append(out, p.PID)
		}
	}
	return out
}
