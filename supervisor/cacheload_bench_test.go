//go:build linux

package supervisor_test

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// BenchmarkCacheLoad measures a one-shot cached call of the two Go modules
// (the 4.6 MB logs module, whose compiled code is 14 MB, and gopanic, a
// 2.5 MB Go program), and its load step alone, with the cache entry handed
// to the worker verified (mapped from the supervisor's descriptor under
// process isolation, read without a hash in a container) against the same
// call with the worker copying and hashing the entry, as before issue 18.
// Both run in the same rounds, interleaved, on two supervisors sharing one
// state directory. The verifying supervisor has verified the entry once,
// as a serving supervisor has after its first call; the oneshot rows make a
// new supervisor per call, as `agent-ctl run` does, which hashes the entry
// itself every time.
func BenchmarkCacheLoad(b *testing.B) {
	_, file, _, _ := runtime.Caller(0)
	modules := map[string]string{
		"logs":    filepath.Join(filepath.Dir(file), "..", "modules", "logs", "logs.wasm"),
		"gopanic": fixtures.Path("gopanic.wasm"),
	}
	home := b.TempDir()
	mapped, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	hashed, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	hashed.SetVerifiedEntries(false)
	for _, name := range []string{"logs", "gopanic"} {
		for _, iso := range []policies.Isolation{policies.IsolationProcess, policies.IsolationContainer} {
			call := &supervisor.Call{Module: modules[name], Args: []string{"--version"}, Stdout: io.Discard, Stderr: io.Discard,
				Policy: policies.Policy{Isolation: iso}}
			invoke := func(s *supervisor.Supervisor) func(*testing.B) supervisor.Timings {
				return func(b *testing.B) supervisor.Timings {
					res, err := s.Invoke(context.Background(), call)
					if err != nil || !res.CacheHit {
						b.Fatalf("invoke %s: %v (cache hit %v)", name, err, res != nil && res.CacheHit)
					}
					return res.Timings
				}
			}
			if _, err := mapped.Invoke(context.Background(), call); err != nil { // fill the cache
				b.Fatal(err)
			}
			m, h := invoke(mapped), invoke(hashed)
			// A one-shot `agent-ctl run` is a new supervisor per call: it
			// verifies the entry itself each time (nothing is remembered
			// across processes), then hands it over.
			fresh := func(on bool) func(*testing.B) time.Duration {
				return func(b *testing.B) time.Duration {
					t0 := time.Now()
					s, err := supervisor.New(&supervisor.Options{Home: home})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					s.SetVerifiedEntries(on)
					invoke(s)(b)
					return time.Since(t0)
				}
			}
			bench.Compare(b, name+"_"+string(iso)+"_oneshot_verified_vs_hashed", fresh(true), fresh(false))
			bench.Compare(b, name+"_"+string(iso)+"_total_verified_vs_hashed",
				func(b *testing.B) time.Duration { return m(b).Total },
				func(b *testing.B) time.Duration { return h(b).Total })
			bench.Compare(b, name+"_"+string(iso)+"_load_verified_vs_hashed",
				func(b *testing.B) time.Duration { return m(b).Load },
				func(b *testing.B) time.Duration { return h(b).Load })
		}
	}
}
