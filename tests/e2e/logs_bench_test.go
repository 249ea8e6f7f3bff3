//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/bench"
)

// BenchmarkLogs is real work rather than start-up: `agent-ctl logs --filter
// ERROR` (modules/logs, Go compiled to wasm, one-shot with container walls)
// over a generated log in a granted directory, against `grep -F ERROR` on
// the same file, at 10 MiB, 100 MiB and 1 GiB ($AGENTCTL_BENCH_LOGS_MIB
// sets the largest). Both read from the page cache (each file is read once
// before timing) and write their matches (one line in a thousand) to a
// pipe that is drained. It reports each size's time against grep's, the
// worker's peak resident memory (sampled from /proc while it runs), and
// whether the time grows linearly: the time per extra MiB from the middle
// size to the largest against that from the smallest to the middle (1.0 is
// linear; start-up cancels out). The time is wall-clock; the same ratios in
// CPU time (user + system of the process and the children it waited for:
// agent-ctl and its worker, or grep), steadier on a loaded machine, are the
// cpu_ fields. logs_startup is a call on an empty file, against grep's:
// what the tool costs before it reads a byte.
//
// With $AGENTCTL_BENCH_LOGS_BEFORE naming a directory that holds another
// build of the module (its manifest.json and logs.wasm: an earlier
// commit's), that build runs too, installed in a home of its own and
// granted the same directory, interleaved with grep and this build; the
// logs_*_vs_before rows are this build against it.
func BenchmarkLogs(b *testing.B) {
	if b.N == 1 {
		return // the framework's first, probing run: the work is done once, with -benchtime Nx, N > 1
	}
	sizes := []int{10, 100, 1024}
	if s := os.Getenv("AGENTCTL_BENCH_LOGS_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("AGENTCTL_BENCH_LOGS_MIB=%q: want a number of MiB, at least 10", s)
		}
		sizes = []int{10, max(10, n/10), n}
	}
	home, dir := b.TempDir(), b.TempDir()
	if out, err := exec.Command(bin, "--home", home, "install", "--yes", "../../modules/logs").CombinedOutput(); err != nil {
		b.Fatalf("install: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--home", home, "grant", "logs", "--dir", dir+":/logs:ro").CombinedOutput(); err != nil {
		b.Fatalf("grant: %v\n%s", err, out)
	}
	beforeHome := ""
	if src := os.Getenv("AGENTCTL_BENCH_LOGS_BEFORE"); src != "" {
		beforeHome = b.TempDir()
		if out, err := exec.Command(bin, "--home", beforeHome, "install", "--yes", src).CombinedOutput(); err != nil {
			b.Fatalf("install %s: %v\n%s", src, err, out)
		}
		if out, err := exec.Command(bin, "--home", beforeHome, "grant", "logs", "--dir", dir+":/logs:ro").CombinedOutput(); err != nil {
			b.Fatalf("grant: %v\n%s", err, out)
		}
	}
	// before runs the earlier build as cmd runs this one, when there is one.
	before := func(cmd *exec.Cmd, peak *int64, okExit int) (linesRun, bool) {
		if beforeHome == "" {
			return linesRun{}, false
		}
		args := append([]string{bin, "--home", beforeHome}, cmd.Args[3:]...)
		return timedLines(b, exec.Command(args[0], args[1:]...), peak, okExit), true
	}
	// vsBefore prints a logs_*_vs_before row: medians of this build (now)
	// against the earlier one (was), wall and CPU.
	vsBefore := func(row string, nowT, wasT, nowC, wasC []time.Duration) {
		if len(wasT) == 0 {
			return
		}
		n, w := bench.Percentile(nowT, 50), bench.Percentile(wasT, 50)
		nc, wc := bench.Percentile(nowC, 50), bench.Percentile(wasC, 50)
		fmt.Printf("%s_vs_before ratio=%.2f p50_us=%.0f baseline_us=%.0f cpu_ratio=%.2f cpu_p50_us=%.0f cpu_baseline_us=%.0f n=%d\n",
			row, float64(n)/float64(w), us(n), us(w), float64(nc)/float64(wc), us(nc), us(wc), len(nowT))
	}
	for _, mib := range sizes {
		writeBenchLog(b, filepath.Join(dir, fmt.Sprintf("app-%dm.log", mib)), mib)
	}
	empty := filepath.Join(dir, "empty.log")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	{
		var grepT, logsT, grepC, logsC, wasT, wasC []time.Duration
		for range 5 {
			g := timedLines(b, exec.Command("grep", "-F", "ERROR", empty), nil, 1)
			cmd := exec.Command(bin, "--home", home, "logs", "--filter", "ERROR", "--file", "empty.log")
			if w, ok := before(cmd, nil, 1); ok {
				wasT, wasC = append(wasT, w.d), append(wasC, w.cpu)
			}
			l := timedLines(b, cmd, nil, 1)
			grepT, logsT, grepC, logsC = append(grepT, g.d), append(logsT, l.d), append(grepC, g.cpu), append(logsC, l.cpu)
		}
		vsBefore("logs_startup", logsT, wasT, logsC, wasC)
		g, l := bench.Percentile(grepT, 50), bench.Percentile(logsT, 50)
		gc, lc := bench.Percentile(grepC, 50), bench.Percentile(logsC, 50)
		fmt.Printf("logs_startup_vs_grep ratio=%.2f p50_us=%.0f baseline_us=%.0f cpu_ratio=%.2f cpu_p50_us=%.0f cpu_baseline_us=%.0f n=5\n",
			float64(l)/float64(g), us(l), us(g), float64(lc)/float64(gc), us(lc), us(gc))
	}
	var times []time.Duration
	for _, mib := range sizes {
		name := fmt.Sprintf("app-%dm.log", mib)
		path := filepath.Join(dir, name)
		runs := max(3, min(b.N, 2000/mib))
		grepCmd := func() *exec.Cmd { return exec.Command("grep", "-F", "ERROR", path) }
		logsCmd := func() *exec.Cmd {
			return exec.Command(bin, "--home", home, "logs", "--filter", "ERROR", "--file", name, "--max", "0")
		}
		want := timedLines(b, grepCmd(), nil, 0) // warms the page cache too
		if got := timedLines(b, logsCmd(), nil, 0); got.lines != want.lines {
			b.Fatalf("%s: logs found %d lines, grep %d", name, got.lines, want.lines)
		}
		var grepT, logsT, grepC, logsC, wasT, wasC []time.Duration
		var peak, wasPeak int64
		for range runs {
			g := timedLines(b, grepCmd(), nil, 0)
			if w, ok := before(logsCmd(), &wasPeak, 0); ok {
				if w.lines != want.lines {
					b.Fatalf("%s: the earlier build found %d lines, grep %d", name, w.lines, want.lines)
				}
				wasT, wasC = append(wasT, w.d), append(wasC, w.cpu)
			}
			r := timedLines(b, logsCmd(), &peak, 0)
			grepT, logsT, grepC, logsC = append(grepT, g.d), append(logsT, r.d), append(grepC, g.cpu), append(logsC, r.cpu)
		}
		vsBefore(fmt.Sprintf("logs_%dmib", mib), logsT, wasT, logsC, wasC)
		g, l := bench.Percentile(grepT, 50), bench.Percentile(logsT, 50)
		gc, lc := bench.Percentile(grepC, 50), bench.Percentile(logsC, 50)
		fmt.Printf("logs_%dmib_vs_grep ratio=%.2f p50_us=%.0f baseline_us=%.0f mib_per_s=%.0f grep_mib_per_s=%.0f cpu_ratio=%.2f cpu_p50_us=%.0f cpu_baseline_us=%.0f worker_peak_rss_mib=%.1f n=%d\n",
			mib, float64(l)/float64(g), us(l), us(g), float64(mib)/l.Seconds(), float64(mib)/g.Seconds(), float64(lc)/float64(gc), us(lc), us(gc), float64(peak)/1024, runs)
		times = append(times, l)
	}
	// The slope from the middle size to the largest against the slope over
	// the whole range: a cliff past the middle size shows as a ratio above
	// 1. Both spans are hundreds of MiB, so the start-up's noise (tens of
	// milliseconds) does not swamp them, as it did a 10-100 MiB span once
	// the search got fast (that ratio went negative).
	slope := func(i, j int) float64 { return (times[j] - times[i]).Seconds() / float64(sizes[j]-sizes[i]) }
	fmt.Printf("logs_growth_%d_to_%dmib_vs_%d_to_%dmib ratio=%.2f ms_per_mib=%.2f baseline_ms_per_mib=%.2f\n",
		sizes[1], sizes[2], sizes[0], sizes[2], slope(1, 2)/slope(0, 2), 1000*slope(1, 2), 1000*slope(0, 2))
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// writeBenchLog writes mib MiB of log lines, one ERROR in a thousand.
func writeBenchLog(b *testing.B, path string, mib int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	levels := []string{"INFO", "DEBUG", "WARN"}
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for i, n := 0, 0; n < mib<<20; i++ {
		level := levels[i%3]
		if i%1000 == 999 {
			level = "ERROR"
		}
		k, _ := fmt.Fprintf(w, "%s %s request id=%08x path=/api/v1/items/%d status=200 took=%dms\n",
			start.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339), level, i, i%9973, i%97)
		n += k
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	// Old enough that no --since default skips it, and not in the future.
	_ = os.Chtimes(path, start.Add(time.Hour), start.Add(time.Hour))
}

type linesRun struct {
	d     time.Duration
	cpu   time.Duration // user + system, of cmd and the children it waited for
	lines int
}

// timedLines runs cmd, counting the lines it writes, and returns how long
// it took. With peak non-nil it samples the resident memory of agent-ctl's
// workers every 10 ms while cmd runs and keeps the largest (KiB). An exit
// code of okExit (grep's and logs' 1, no match) is not a failure.
func timedLines(b *testing.B, cmd *exec.Cmd, peak *int64, okExit int) linesRun {
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if peak != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				if kib := workerRSS(); kib > *peak {
					*peak = kib
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	err = cmd.Wait()
	d := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil && (okExit == 0 || cmd.ProcessState.ExitCode() != okExit) {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return linesRun{d: d, cpu: cpu, lines: n}
}

// workerRSS is the largest VmRSS (KiB) among running agent-ctl workers.
func workerRSS() int64 {
	ents, _ := os.ReadDir("/proc")
	var best int64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil || !strings.HasPrefix(string(st), "Name:\tagent-ctl-worke") {
			continue
		}
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				best = max(best, kib)
			}
		}
	}
	return best
}
