//go:build linux

package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// BenchmarkFileRead is the read path alone, in process (no worker start,
// no compile in the timing): hostfile.wasm reads a 256 MiB file from the
// page cache to its end in 1 MiB reads, through agent_ctl's file_read
// (file_read_vs_wasi) and, interleaved in the same rounds, through WASI's
// fd_read (the baseline). The ratio is of wall time; cpu_ratio is of the
// process's CPU time (user + system, wasmtime's blocking-pool threads
// included). $AGENTCTL_BENCH_READ_MIB sets the size.
func BenchmarkFileRead(b *testing.B) {
	mib := 256
	if s := os.Getenv("AGENTCTL_BENCH_READ_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("AGENTCTL_BENCH_READ_MIB=%q: want a number of MiB", s)
		}
		mib = n
	}
	dir := b.TempDir()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}
	f, err := os.Create(filepath.Join(dir, "big"))
	if err != nil {
		b.Fatal(err)
	}
	for range mib {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	if _, err := os.ReadFile(filepath.Join(dir, "big")); err != nil { // into the page cache
		b.Fatal(err)
	}
	wantOut := func(op string) string { return fmt.Sprintf("%s: 0 %d\n", op, mib<<20) }
	// read runs one call of hostfile.wasm with args and returns its wall
	// and CPU time.
	read := func(b *testing.B, op string, args ...string) (wall, cpu time.Duration) {
		h, stdout, stderr := newHost(b)
		req := request(b, "hostfile.wasm", 64<<20)
		req.Dirs = []protocol.Dir{{Host: dir, Guest: "/g"}}
		if _, err := h.Prepare(req); err != nil {
			b.Fatal(err)
		}
		c0 := cpuTime(b)
		t0 := time.Now()
		res, err := h.Run(&protocol.RunArgs{Args: append([]string{"hostfile", op}, args...), Timeout: 5 * time.Minute}, nil)
		wall, cpu = time.Since(t0), cpuTime(b)-c0
		if err != nil || res.Outcome != protocol.Exited || res.ExitCode != 0 {
			b.Fatalf("Run = %+v, %v; stderr %q", res, err, stderr)
		}
		if got := stdout.String(); got != wantOut(op) {
			b.Fatalf("%s printed %q, want %q", op, got, wantOut(op))
		}
		return wall, cpu
	}
	const n = "1048576"
	var hostT, wasiT, hostC, wasiC []time.Duration
	for i := range b.N {
		// Alternating which goes first keeps a trend out of the ratio.
		if i%2 == 0 {
			w, c := read(b, "slurp", "/g", "big", n)
			hostT, hostC = append(hostT, w), append(hostC, c)
		}
		w, c := read(b, "wslurp", "/g/big", n)
		wasiT, wasiC = append(wasiT, w), append(wasiC, c)
		if i%2 == 1 {
			w, c := read(b, "slurp", "/g", "big", n)
			hostT, hostC = append(hostT, w), append(hostC, c)
		}
	}
	bench.Report(b, "file_read_vs_wasi", hostT, wasiT)
	if b.N > 1 {
		hc, wc := bench.Percentile(hostC, 50), bench.Percentile(wasiC, 50)
		fmt.Printf("file_read_vs_wasi_cpu ratio=%.2f p50_us=%s baseline_us=%s mib=%d n=%d\n",
			float64(hc)/float64(wc), bench.Us(hc), bench.Us(wc), mib, len(hostC))
	}
}

// cpuTime is the process's user + system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
