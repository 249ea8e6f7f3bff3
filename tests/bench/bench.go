// Package bench holds the helpers the benchmarks share: percentiles, the
// native baseline, and the one summary line per benchmark that scripts read
// ("name ratio=… p50_us=… baseline_us=…").
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// Percentile returns the p-th percentile (0-100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// Us renders a duration in microseconds with one decimal.
func Us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1e3) }

// Compare runs one comparison as its own sub-benchmark of b, named name:
// each of its b.N rounds runs measure, which returns the duration compared
// (a call's own total, say), then, with the timer stopped, baseline; both
// get the sub-benchmark's b, to fail on (a parent's b must not be failed
// from a sub-benchmark's goroutine). The
// benchmark's time per op is measure's alone; p50_us and ratio (the p50
// of measure's durations over baseline's) are this comparison's only, so
// that benchstat sees every comparison (a benchmark holds one value per
// unit: several comparisons on one b overwrote each other). Running the
// baseline in the same rounds, interleaved, keeps drift on a loaded
// machine out of the ratio.
func Compare(b *testing.B, name string, measure, baseline func(*testing.B) time.Duration) {
	b.Helper()
	CompareAfter(b, name, nil, measure, baseline)
}

// CompareAfter is Compare with ready, if not nil, run before each round
// with the timer stopped (to wait for a pool's refill, say).
func CompareAfter(b *testing.B, name string, ready func(*testing.B), measure, baseline func(*testing.B) time.Duration) {
	b.Helper()
	b.Run(name, func(b *testing.B) {
		got, base := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			if ready != nil {
				b.StopTimer()
				ready(b)
				b.StartTimer()
			}
			got = append(got, measure(b))
			b.StopTimer()
			base = append(base, baseline(b))
			b.StartTimer()
		}
		b.StopTimer()
		report(b, name, "", got, base)
	})
}

// Report records a comparison on b whose series the benchmark collected
// itself, several from one loop. Its metrics are named for the
// comparison (name_p50_us, name_ratio), so that one benchmark can hold
// several; Compare is the simpler form for one. It prints the summary
// line only for the real run, not go test's one-iteration probe.
func Report(b *testing.B, name string, got, baseline []time.Duration) {
	report(b, name, name+"_", got, baseline)
}

func report(b *testing.B, name, unitPrefix string, got, baseline []time.Duration) {
	p50, p99, base := Percentile(got, 50), Percentile(got, 99), Percentile(baseline, 50)
	ratio := float64(p50) / float64(base)
	b.ReportMetric(float64(p50.Microseconds()), unitPrefix+"p50_us")
	b.ReportMetric(ratio, unitPrefix+"ratio")
	if b.N > 1 {
		fmt.Printf("%s ratio=%.2f p50_us=%s p99_us=%s baseline_us=%s n=%d\n", name, ratio, Us(p50), Us(p99), Us(base), len(got))
	}
}

// Native is Compare's baseline of a native fork+exec of path.
func Native(path string) func(*testing.B) time.Duration {
	return func(b *testing.B) time.Duration { return ForkExec(b, path) }
}

// NativeHello returns the gcc build of tests/testdata/hello.c, building it
// into a temporary directory when `make fixtures` has not.
func NativeHello(b *testing.B) string {
	p := fixtures.Path("native/hello")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	out := filepath.Join(b.TempDir(), "hello")
	if o, err := exec.Command("gcc", "-O2", "-o", out, fixtures.Path("hello.c")).CombinedOutput(); err != nil {
		b.Fatalf("building the native baseline: %v\n%s", err, o)
	}
	return out
}

// ForkExec runs a program once, waiting for it, and returns the wall time.
func ForkExec(b *testing.B, path string, args ...string) time.Duration {
	t := time.Now()
	cmd := exec.Command(path, args...)
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return time.Since(t)
}
