//go:build unix

package supervisor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

func itoa(i int) string { return strconv.Itoa(i) }

func sha256File(tb testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// invokePooled makes a call that must take a prepared worker and exit 0,
// and returns its timings.
func invokePooled(tb testing.TB, s *supervisor.Supervisor, call *supervisor.Call) supervisor.Timings {
	tb.Helper()
	res, err := s.Invoke(context.Background(), call)
	if err != nil || !res.Pooled || res.ExitCode != 0 {
		tb.Fatalf("invoke: %v (pooled %v)", err, res != nil && res.Pooled)
	}
	return res.Timings
}

// pooledSupervisor opens a supervisor on home with a pool of one worker
// per tool, lets set change it before its first call (nil: none), and
// makes call once: that compiles the module into the cache, and the pool
// fills from it. The supervisor is closed when the benchmark ends.
func pooledSupervisor(b *testing.B, home string, call *supervisor.Call, set func(*supervisor.Supervisor)) *supervisor.Supervisor {
	b.Helper()
	s, err := supervisor.New(&supervisor.Options{Home: home, Pool: &supervisor.PoolOptions{PerTool: 1}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if set != nil {
		set(s)
	}
	if _, err := s.Invoke(context.Background(), call); err != nil {
		b.Fatal(err)
	}
	return s
}

// wrapSpawners wraps every spawner of s with wrap and returns the wrapper
// of iso's spawner: the one that starts the workers of the test's calls.
func wrapSpawners[W isolation.Spawner](t testing.TB, s *supervisor.Supervisor, iso policies.Isolation, wrap func(isolation.Spawner) W) W {
	t.Helper()
	var mine W
	if err := s.WrapSpawners(func(sp isolation.Spawner) isolation.Spawner {
		w := wrap(sp)
		if sp.Name() == string(iso) {
			mine = w
		}
		return w
	}); err != nil {
		t.Fatal(err)
	}
	return mine
}

// cacheEntry returns the compiled module in home's cache, which must hold
// exactly one.
func cacheEntry(t testing.TB, home string) string {
	t.Helper()
	entries, _ := filepath.Glob(filepath.Join(home, "cache", "*.cwasm"))
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}
	return entries[0]
}
