package watch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/modules/watch"
)

// env is a drop-in directory watched into a real module store.
type env struct {
	drops, status string
	store         *store.Store

	mu       sync.Mutex
	installs []string // what each install found: "name version" or the error
}

func start(t *testing.T, debounce time.Duration) *env {
	t.Helper()
	home := t.TempDir()
	st, err := store.Open(filepath.Join(home, "modules"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{drops: t.TempDir(), status: watch.StatusPath(home), store: st}
	w, err := watch.New(&watch.Options{
		Dir: e.drops, Status: e.status, Debounce: debounce,
		Install: func(_ context.Context, dir string) (string, error) {
			tool, err := st.Install(dir)
			e.mu.Lock()
			defer e.mu.Unlock()
			if err != nil {
				e.installs = append(e.installs, err.Error())
				return "", err
			}
			e.installs = append(e.installs, tool.Name()+" "+tool.Manifest().Version)
			return tool.Name(), nil
		},
		Remove: func(_ context.Context, tool string) error { return st.Remove(tool) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runWatcher(w))
	return e
}

// runWatcher runs w until the function it returns is called, which
// returns once Run has.
func runWatcher(w *watch.Watcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func manifestJSON(name, version string) string {
	return `{"name":"` + name + `","version":"` + version + `","description":"greets","module":"hello.wasm",
	"inputSchema":{"type":"object","properties":{"name":{"type":"string"}}}}`
}

func hello(t *testing.T) []byte {
	b, err := os.ReadFile("../hello/hello.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drop writes a module directory aside and renames it into place (or over
// the old one), as a deployment does.
func (e *env) drop(t *testing.T, name, manifest string, wasm []byte) {
	t.Helper()
	tmp, err := os.MkdirTemp(e.drops, ".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "manifest.json"), []byte(manifest), 0o644)
	os.WriteFile(filepath.Join(tmp, "hello.wasm"), wasm, 0o644)
	dst := filepath.Join(e.drops, name)
	os.RemoveAll(dst)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or a generous deadline passes (a
// loaded 2-core machine); the watcher's own latency is measured elsewhere.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) version(name string) string {
	tool, err := e.store.Get(name)
	if err != nil {
		return ""
	}
	return tool.Manifest().Version
}

func (e *env) statusErrors(t *testing.T) []string {
	s, err := watch.ReadStatus(e.status)
	if err != nil {
		t.Fatal(err)
	}
	return s.Errors()
}

// TestWatch_lifecycle: a drop installs, a changed drop replaces it, a
// broken drop leaves it running and is recorded, a fixed drop clears the
// error, and a removed drop removes the tool.
func TestWatch_lifecycle(t *testing.T) {
	e := start(t, 0)
	wasm := hello(t)
	e.drop(t, "greet", manifestJSON("greet", "1.0.0"), wasm)
	waitFor(t, "greet 1.0.0 installed", func() bool { return e.version("greet") == "1.0.0" })

	e.drop(t, "greet", manifestJSON("greet", "1.1.0"), wasm)
	waitFor(t, "greet 1.1.0 installed", func() bool { return e.version("greet") == "1.1.0" })

	e.drop(t, "greet", manifestJSON("greet", "1.2.0"), []byte("\x00asm garbage"))
	waitFor(t, "the broken drop recorded", func() bool { return len(e.statusErrors(t)) == 1 })
	if got := e.statusErrors(t)[0]; !strings.Contains(got, "greet keeps its installed version") || !strings.Contains(got, "hello.wasm") {
		t.Errorf("status error %q: want it to name the file and say the tool keeps its version", got)
	}
	if v := e.version("greet"); v != "1.1.0" {
		t.Fatalf("after a broken drop greet is %q, want 1.1.0 still installed", v)
	}

	e.drop(t, "greet", manifestJSON("greet", "1.3.0"), wasm)
	waitFor(t, "greet 1.3.0 installed and the error cleared", func() bool {
		return e.version("greet") == "1.3.0" && len(e.statusErrors(t)) == 0
	})

	if err := os.RemoveAll(filepath.Join(e.drops, "greet")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "greet removed", func() bool { _, err := e.store.Get("greet"); return err != nil })
}

// TestWatch_halfCopied copies a module in slow pieces, 50ms apart: with a
// debounce longer than the gaps the watcher installs once, the whole
// module, and never tries the half-written one; with a 1ms debounce (as
// good as none) the same copy is tried half-way and fails, which shows
// the test can tell. The debounced case uses 1s rather than the default
// 300ms so that a writer stalled on a loaded machine stays within it.
func TestWatch_halfCopied(t *testing.T) {
	tests := []struct {
		name      string
		debounce  time.Duration
		wantFails bool
	}{
		{"debounced", time.Second, false},
		{"not debounced", time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, tt.debounce)
			dir := filepath.Join(e.drops, "slow")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifestJSON("slow", "1.0.0")), 0o644)
			f, err := os.Create(filepath.Join(dir, "hello.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			wasm := hello(t)
			const pieces = 10
			for i := range pieces {
				f.Write(wasm[i*len(wasm)/pieces : (i+1)*len(wasm)/pieces])
				time.Sleep(50 * time.Millisecond) // the copy's pace, not a synchronisation
			}
			f.Close()
			waitFor(t, "slow installed", func() bool { return e.version("slow") == "1.0.0" })
			e.mu.Lock()
			defer e.mu.Unlock()
			failed := len(e.installs) > 1
			if failed != tt.wantFails {
				t.Errorf("installs seen: %q; want failed tries before the whole copy: %v", e.installs, tt.wantFails)
			}
		})
	}
}

// TestWatch_restart: a watcher started again does not reinstall what is
// unchanged, and removes the tool of a drop deleted while none watched.
func TestWatch_restart(t *testing.T) {
	home := t.TempDir()
	st, err := store.Open(filepath.Join(home, "modules"))
	if err != nil {
		t.Fatal(err)
	}
	drops := t.TempDir()
	installs := 0
	run := func() (stop func()) {
		w, err := watch.New(&watch.Options{Dir: drops, Status: watch.StatusPath(home),
			Install: func(_ context.Context, dir string) (string, error) {
				installs++
				tool, err := st.Install(dir)
				if err != nil {
					return "", err
				}
				return tool.Name(), nil
			},
			Remove: func(_ context.Context, tool string) error { return st.Remove(tool) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return runWatcher(w)
	}
	e := &env{drops: drops}
	e.drop(t, "a", manifestJSON("a", "1.0.0"), hello(t))
	e.drop(t, "b", manifestJSON("b", "1.0.0"), hello(t))
	stop := run()
	waitFor(t, "a and b installed", func() bool { n, _ := st.Names(); return len(n) == 2 })
	waitFor(t, "the status recorded", func() bool {
		s, _ := watch.ReadStatus(watch.StatusPath(home))
		return len(s.Drops) == 2 && s.Drops["a"].Tool == "a" && s.Drops["b"].Tool == "b"
	})
	stop()
	os.RemoveAll(filepath.Join(drops, "b"))
	stop = run()
	waitFor(t, "b removed", func() bool { n, _ := st.Names(); return len(n) == 1 && n[0] == "a" })
	// c appears after b was scheduled; drops are handled one at a time,
	// so once c is installed, b was looked at.
	e.drop(t, "c", manifestJSON("c", "1.0.0"), hello(t))
	waitFor(t, "c installed", func() bool { n, _ := st.Names(); return len(n) == 2 })
	// a, there before this watcher started, changed in place (its files,
	// not the directory): its directory is watched too.
	os.WriteFile(filepath.Join(drops, "a", "manifest.json"), []byte(manifestJSON("a", "1.0.1")), 0o644)
	waitFor(t, "a 1.0.1 installed", func() bool { tool, err := st.Get("a"); return err == nil && tool.Manifest().Version == "1.0.1" })
	stop()
	if installs != 4 {
		t.Errorf("%d installs, want 4 (a, b, c, a changed): the restart reinstalled an unchanged drop", installs)
	}
}
