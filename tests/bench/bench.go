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

// Report prints the summary line and records the metrics on b. It prints
// only for the real run, not go test's one-iteration probe.
func Report(b *testing.B, name string, got, baseline []time.Duration) {
	p50, p99, base := Percentile(got, 50), Percentile(got, 99), Percentile(baseline, 50)
	ratio := float64(p50) / float64(base)
	b.ReportMetric(float64(p50.Microseconds()), "p50_us")
	b.ReportMetric(ratio, "ratio")
	if b.N > 1 {
		fmt.Printf("%s ratio=%.2f p50_us=%s p99_us=%s baseline_us=%s n=%d\n", name, ratio, Us(p50), Us(p99), Us(base), len(got))
	}
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
