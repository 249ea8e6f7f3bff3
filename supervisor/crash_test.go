//go:build unix

package supervisor_test

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/testutil"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// poison rewrites the cache entry at path so that its compiled code is
// zeroed but its trailer is sound: the worker loads it and crashes when the
// code runs.
func poison(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const trailer = sha256.Size + len("agent-ctl.cwasm1")
	payload := bytes.Clone(b[:len(b)-trailer])
	f, err := elf.NewFile(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("cache entry is not the ELF file this test expects: %v", err)
	}
	text := f.Section(".text")
	if text == nil || text.Size == 0 {
		t.Fatal("cache entry has no .text section")
	}
	clear(payload[text.Offset : text.Offset+text.Size])
	sum := sha256.Sum256(payload)
	out := append(append(payload, sum[:]...), "agent-ctl.cwasm1"...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cache.Verify(path); err != nil {
		t.Fatalf("poisoned entry fails its trailer check: %v", err)
	}
	return out
}

// crashSupervisor returns a supervisor whose debug log the test reads, and
// the one cache entry a first call of module left.
func crashSupervisor(t *testing.T, iso policies.Isolation, module string) (*testSupervisor, *testutil.SyncBuffer, string) {
	t.Helper()
	home := t.TempDir()
	logs := &testutil.SyncBuffer{}
	sup, err := supervisor.New(&supervisor.Options{Home: home,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	s := &testSupervisor{sup, iso}
	if _, _, _, err := invoke(t, s, supervisor.Call{Module: module}); err != nil {
		t.Fatal(err)
	}
	return s, logs, cacheEntry(t, home)
}

// checkCrashMessage: a crashed worker's error names the crash, not its
// goroutine dump, which is in the debug log.
func checkCrashMessage(t *testing.T, err error, logs *testutil.SyncBuffer) {
	t.Helper()
	msg := err.Error()
	if !errors.Is(err, supervisor.ErrWorker) || !strings.Contains(msg, "the worker crashed (SIG") {
		t.Errorf("error %q, want a worker failure naming the crash's signal", msg)
	}
	for _, trace := range []string{"goroutine ", ".go:", "runtime.", "rip ", "PC="} {
		if strings.Contains(msg, trace) {
			t.Errorf("error carries the worker's stack trace (%q): %q", trace, msg)
		}
	}
	if len(msg) > 600 {
		t.Errorf("error is %d bytes long: %q", len(msg), msg)
	}
	if l := logs.String(); !strings.Contains(l, "worker crashed") || !strings.Contains(l, "goroutine") {
		t.Errorf("debug log lacks the crashed worker's stack trace:\n%s", l)
	}
}

// TestCache_crashingEntry: a cache entry with a sound trailer but code that
// crashes its worker is evicted and the module compiled again; the call
// runs again when nothing of the first run was seen, else fails clearly.
func TestCache_crashingEntry(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		t.Run("replayed", func(t *testing.T) {
			s, logs, entry := crashSupervisor(t, iso, "hello.wasm")
			bad := poison(t, entry)
			res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
			if err != nil || out != "hello, world\n" {
				t.Fatalf("call on a crashing entry: out %q, err %v; want it run again after a compile", out, err)
			}
			if res.CacheHit {
				t.Error("the call that ran again reports a cache hit; want a compile")
			}
			if b, _ := os.ReadFile(entry); bytes.Equal(b, bad) || cache.Verify(entry) != nil {
				t.Error("the crashing entry is still in the cache")
			}
			if l := logs.String(); !strings.Contains(l, "cache entry evicted") || !strings.Contains(l, "running the call again") {
				t.Errorf("no eviction and run again logged:\n%s", l)
			}
			res, out, _, err = invoke(t, s, supervisor.Call{Module: "hello.wasm"})
			if err != nil || !res.CacheHit || out != "hello, world\n" {
				t.Fatalf("next call: cache hit %v, out %q, err %v; want the new entry", res.CacheHit, out, err)
			}
		})
		t.Run("stdin consumed", func(t *testing.T) {
			s, logs, entry := crashSupervisor(t, iso, "hello.wasm")
			poison(t, entry)
			_, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm", Stdin: strings.NewReader("input")})
			if err == nil {
				t.Fatalf("call on a crashing entry with stdin read: out %q, no error; want a clear error, not a replay", out)
			}
			checkCrashMessage(t, err, logs)
			if !strings.Contains(err.Error(), "evicted") {
				t.Errorf("error %q does not say the entry was evicted", err)
			}
			if _, serr := os.Stat(entry); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("crashing entry still in the cache (%v)", serr)
			}
			res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm", Stdin: strings.NewReader("input")})
			if err != nil || res.CacheHit || out != "hello, world\n" {
				t.Fatalf("next call: cache hit %v, out %q, err %v; want a compile", res.CacheHit, out, err)
			}
		})
		t.Run("crash while loading", func(t *testing.T) {
			// startfn's start function runs when the worker instantiates
			// it, ahead of the call: its zeroed code crashes Prepare.
			s, logs, entry := crashSupervisor(t, iso, "startfn.wasm")
			bad := poison(t, entry)
			res, out, _, err := invoke(t, s, supervisor.Call{Module: "startfn.wasm", Stdin: strings.NewReader("x")})
			if err != nil || out != "start ran\nmain ran\n" || res.CacheHit {
				t.Fatalf("call on an entry that crashes while loading: out %q, cache hit %v, err %v; want a compile",
					out, res != nil && res.CacheHit, err)
			}
			if b, _ := os.ReadFile(entry); bytes.Equal(b, bad) {
				t.Error("the crashing entry is still in the cache")
			}
			if l := logs.String(); !strings.Contains(l, "cache entry evicted") || !strings.Contains(l, "starting the call again") {
				t.Errorf("no eviction and start again logged:\n%s", l)
			}
		})
	})
}
