package statefile_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// BenchmarkOpen times what a call pays for opening its module and a
// manifest without blocking and checking the descriptor, against the plain
// os.Open read they replaced, interleaved in one loop (the order
// alternates, so that neither side always runs on a warm cache): the
// metrics are each side's ns per operation and their ratio.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "manifest.json")
	if err := os.WriteFile(path, make([]byte, 2<<10), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		old, new func() error
	}{
		{"open", func() error { return closeErr(os.Open(path)) }, func() error { return closeErr(statefile.Open(path)) }},
		{"read", func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.ReadAll(io.LimitReader(f, 1<<20+1))
			return err
		}, func() error { _, err := statefile.ReadFile(path, 1<<20); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var took [2]time.Duration
			n := 0
			for b.Loop() {
				for j, f := range [2]func() error{bc.old, bc.new} {
					if n%2 == 1 {
						j, f = 1-j, [2]func() error{bc.old, bc.new}[1-j]
					}
					start := time.Now()
					if err := f(); err != nil {
						b.Fatal(err)
					}
					took[j] += time.Since(start)
				}
				n++
			}
			b.ReportMetric(float64(took[0].Nanoseconds())/float64(n), "ns/old")
			b.ReportMetric(float64(took[1].Nanoseconds())/float64(n), "ns/new")
			b.ReportMetric(float64(took[1])/float64(took[0]), "new/old")
		})
	}
}

func closeErr(f *os.File, err error) error {
	if err != nil {
		return err
	}
	return f.Close()
}
