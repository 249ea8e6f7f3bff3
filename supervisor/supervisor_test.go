//go:build unix

package supervisor_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
	"github.com/agent-ctl/agent-ctl/tests/workertest"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// TestMain lets the test binary serve as the worker executable: the
// supervisor re-executes it with the hidden worker argument; and as a
// supervisor holding a worker (holdWorkerEnv); and as the root-side
// table's helpers (rootSideHelpers).
func TestMain(m *testing.M) {
	if home := os.Getenv(holdWorkerEnv); home != "" && !protocol.IsWorker(os.Args) {
		isolation.Init()
		os.Exit(holdWorker(home, policies.Isolation(os.Getenv(holdIsolationEnv))))
	}
	for env, helper := range rootSideHelpers {
		if v := os.Getenv(env); v != "" && !protocol.IsWorker(os.Args) {
			isolation.Init()
			os.Exit(helper(v))
		}
	}
	if code, ok := hostileWorker(os.Args); ok {
		os.Exit(code)
	}
	workertest.Main(m)
}

// testSupervisor runs every call of a test behind one kind of walls.
type testSupervisor struct {
	*supervisor.Supervisor
	iso policies.Isolation
}

func newSupervisor(t testing.TB, iso policies.Isolation) *testSupervisor {
	t.Helper()
	s, err := supervisor.New(&supervisor.Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &testSupervisor{s, iso}
}

// openSupervisor opens a supervisor on home and closes it when the test
// ends.
func openSupervisor(t testing.TB, home string) *supervisor.Supervisor {
	t.Helper()
	s, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// isolations are the walls every behaviour test runs behind: the WASM
// sandbox alone, and with the kernel's confinement around the worker.
var isolations = []policies.Isolation{policies.IsolationProcess, policies.IsolationContainer}

// both runs a test once per isolation.
func both(t *testing.T, f func(t *testing.T, iso policies.Isolation)) {
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) { f(t, iso) })
	}
}

// invoke runs a fixture and returns what it wrote.
func invoke(t testing.TB, s *testSupervisor, call supervisor.Call) (*supervisor.Result, string, string, error) {
	t.Helper()
	var out, errb testutil.SyncBuffer
	call.Stdout, call.Stderr = &out, &errb
	if call.Policy.Isolation == "" {
		call.Policy.Isolation = s.iso
	}
	if !filepath.IsAbs(call.Module) {
		call.Module = fixtures.Path(call.Module)
	}
	res, err := s.Invoke(context.Background(), &call)
	if err == nil {
		assertReaped(t, res.WorkerPid)
	}
	return res, out.String(), errb.String(), err
}

// assertReaped checks that no worker process is left behind. Invoke kills
// the worker before it returns and reaps it in the background, so the
// process may take a moment to disappear.
func assertReaped(t testing.TB, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("result has no worker pid")
	}
	var err error
	if !testutil.Poll(5*time.Second, func() bool {
		err = syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH)
	}) {
		t.Errorf("worker %d still exists 5s after Invoke returned (kill 0: %v)", pid, err)
	}
}

func TestInvoke_hello(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		for _, tc := range []struct {
			args []string
			want string
		}{
			{nil, "hello, world\n"},
			{[]string{"agent"}, "hello, agent\n"},
			{[]string{"with space", "ignored"}, "hello, with space\n"},
		} {
			res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm", Args: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.want || res.Outcome != supervisor.Exited || res.ExitCode != 0 {
				t.Errorf("args %q: got %q, %v %d; want %q, exited 0", tc.args, out, res.Outcome, res.ExitCode, tc.want)
			}
		}
	})
}

func TestInvoke_exitCodes(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		for _, code := range []int{0, 1, 3, 42, 125} {
			res, _, _, err := invoke(t, s, supervisor.Call{Module: "exit.wasm", Args: []string{fmt.Sprint(code)}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != supervisor.Exited || res.ExitCode != code || supervisor.ExitCode(res, nil) != code {
				t.Errorf("exit %d: got %v %d", code, res.Outcome, res.ExitCode)
			}
		}
		// wasmtime refuses exit codes from 126 up, which keeps a module from
		// impersonating agent-ctl's own outcomes there.
		res, _, _, err := invoke(t, s, supervisor.Call{Module: "exit.wasm", Args: []string{"200"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != supervisor.Trapped || !strings.Contains(res.Message, "exit status") {
			t.Errorf("exit 200: got %v %q, want a trap about the exit status", res.Outcome, res.Message)
		}
	})
}

func TestInvoke_stdio(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		res, out, errs, err := invoke(t, s, supervisor.Call{Module: "stdout_stderr.wasm"})
		if err != nil {
			t.Fatal(err)
		}
		if out != "out 1\nout 2\n" || errs != "err 1\nerr 2\n" || res.ExitCode != 7 {
			t.Errorf("got stdout %q stderr %q exit %d", out, errs, res.ExitCode)
		}

		in := strings.Repeat("line of input\n", 20000) // larger than a pipe buffer
		res, out, _, err = invoke(t, s, supervisor.Call{Module: "cat.wasm", Stdin: strings.NewReader(in)})
		if err != nil {
			t.Fatal(err)
		}
		if out != in || res.ExitCode != 0 {
			t.Errorf("cat: got %d bytes exit %d, want %d bytes exit 0", len(out), res.ExitCode, len(in))
		}

		// No stdin at all reads as an empty stdin, not a hang.
		_, out, _, err = invoke(t, s, supervisor.Call{Module: "cat.wasm"})
		if err != nil || out != "" {
			t.Errorf("cat without stdin: %q, %v", out, err)
		}
	})
}

// TestInvoke_streams checks that output reaches the caller while the module
// still runs, not when it ends.
func TestInvoke_streams(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		w := &testutil.TimedWriter{}
		res, err := s.Invoke(context.Background(), &supervisor.Call{
			Module: fixtures.Path("stream.wasm"), Args: []string{"3", "400"},
			Policy: policies.Policy{Isolation: iso},
			Stdout: w,
		})
		end := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if got := w.String(); got != "tick 0\ntick 1\ntick 2\n" || res.ExitCode != 0 {
			t.Fatalf("got %q exit %d", got, res.ExitCode)
		}
		// The module sleeps 800ms after writing its first line; that line must
		// have arrived long before the call ended.
		if lead := end.Sub(w.Times()[0]); lead < 500*time.Millisecond {
			t.Errorf("first line arrived %v before the end; want it streamed at once", lead)
		}
	})
}

func TestLimits(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		for _, tc := range []struct {
			module  string
			args    []string
			policy  policies.Policy
			outcome supervisor.Outcome
			code    int
			trap    string // substring of the trap kind
			frames  []string
			stderr  string
		}{
			{module: "loop.wasm", policy: policies.Policy{Timeout: 300 * time.Millisecond},
				outcome: supervisor.TimedOut, code: supervisor.ExitTimeout, frames: []string{"_start"}},
			// Blocked in a host call (sleep), out of the epoch's reach: the
			// supervisor's backstop kills the worker.
			{module: "sleep.wasm", args: []string{"20000"}, policy: policies.Policy{Timeout: 300 * time.Millisecond},
				outcome: supervisor.TimedOut, code: supervisor.ExitTimeout},
			{module: "memgrow.wasm", policy: policies.Policy{Memory: 1 << 20},
				outcome: supervisor.MemoryLimit, code: supervisor.ExitMemoryLimit},
			{module: "malloc.wasm", policy: policies.Policy{Memory: 16 << 20},
				outcome: supervisor.MemoryLimit, code: supervisor.ExitMemoryLimit, stderr: "malloc: out of memory after"},
			{module: "recurse.wasm", outcome: supervisor.Trapped, code: supervisor.ExitTrap, trap: "stack overflow"},
			{module: "trap.wasm", outcome: supervisor.Trapped, code: supervisor.ExitTrap, trap: "unreachable",
				frames: []string{"inner", "outer", "_start"}},
			{module: "flood.wasm", policy: policies.Policy{MaxOutput: 1 << 20},
				outcome: supervisor.OutputLimit, code: supervisor.ExitOutputLimit},
		} {
			t.Run(tc.module, func(t *testing.T) {
				res, out, errs, err := invoke(t, s, supervisor.Call{Module: tc.module, Args: tc.args, Policy: tc.policy})
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tc.outcome || supervisor.ExitCode(res, nil) != tc.code {
					t.Fatalf("got %v (exit %d), want %v (exit %d); %s", res.Outcome, supervisor.ExitCode(res, nil), tc.outcome, tc.code, res.Describe())
				}
				if !strings.Contains(res.Trap, tc.trap) {
					t.Errorf("trap %q, want it to mention %q", res.Trap, tc.trap)
				}
				if len(res.Frames) > 21 {
					t.Errorf("backtrace has %d lines, want at most 21", len(res.Frames))
				}
				for i, f := range tc.frames {
					if i >= len(res.Frames) || !strings.HasPrefix(res.Frames[i], f) {
						t.Errorf("frames %q, want %q first", res.Frames, tc.frames)
						break
					}
				}
				if !strings.Contains(errs, tc.stderr) {
					t.Errorf("stderr %q, want %q", errs, tc.stderr)
				}
				if d := res.Describe(); d == "" || !strings.HasPrefix(d, tc.module) {
					t.Errorf("Describe() = %q, want a message naming the module", d)
				}
				if tc.outcome == supervisor.OutputLimit {
					// Exactly the allowed bytes were delivered, none past the cap.
					if int64(len(out)) != tc.policy.MaxOutput || res.Output != tc.policy.MaxOutput {
						t.Errorf("delivered %d bytes (counted %d), want exactly %d", len(out), res.Output, tc.policy.MaxOutput)
					}
				}
			})
		}
	})
}

func TestInvalidModules(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		dir := t.TempDir()
		for _, tc := range []struct {
			module string
			is     error
			msg    string
		}{
			{"missing.wasm", supervisor.ErrModuleNotFound, "missing.wasm"},
			{"notwasm.wasm", supervisor.ErrModuleInvalid, "is not a WebAssembly module"},
			{"truncated.wasm", supervisor.ErrModuleInvalid, "compiling module"},
			{"component.wasm", supervisor.ErrModuleInvalid, "component model is not supported"},
			{"imports.wasm", supervisor.ErrModuleInvalid, "env::evil_host_call"},
			{"hostimports.wasm", supervisor.ErrModuleInvalid, "agent_ctl::exec, which agent-ctl does not provide"},
			{"hostsig.wasm", supervisor.ErrModuleInvalid, "agent_ctl::net_connect with the wrong type: want func (i32, i32, i32, i32, i32) -> (i32)"},
			{dir, supervisor.ErrModuleInvalid, "not a regular file"},
		} {
			t.Run(filepath.Base(tc.module), func(t *testing.T) {
				_, _, _, err := invoke(t, s, supervisor.Call{Module: tc.module})
				if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got %v, want %v mentioning %q", err, tc.is, tc.msg)
				}
				if strings.Count(err.Error(), "\n") > 1 {
					t.Errorf("error spans %d lines: %q", strings.Count(err.Error(), "\n")+1, err)
				}
			})
		}
	})
}

func TestInvoke_memoryAtStart(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		// A module whose initial memory is above the limit is refused before it
		// runs. hello.wasm (wasi-libc) declares two pages' worth or more.
		s := newSupervisor(t, iso)
		_, _, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm", Policy: policies.Policy{Memory: 64 << 10}})
		if !errors.Is(err, supervisor.ErrModuleInvalid) || !strings.Contains(err.Error(), "memory limit") {
			t.Fatalf("got %v, want a memory-limit refusal", err)
		}
	})
}

func TestArgsNotUTF8(t *testing.T) {
	s := newSupervisor(t, policies.IsolationProcess)
	for _, arg := range []string{"\xff", "a\x00b"} {
		_, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"), Args: []string{"ok", arg},
			Policy: policies.Policy{Isolation: policies.IsolationProcess}})
		if !errors.Is(err, policies.ErrInvalid) || !strings.Contains(err.Error(), "argument 2") {
			t.Errorf("argument %q: %v, want a refusal naming argument 2", arg, err)
		}
	}
}

func TestPolicyRefused(t *testing.T) {
	s := newSupervisor(t, policies.IsolationProcess)
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	existing := t.TempDir()
	for _, tc := range []struct {
		name   string
		policy policies.Policy
		is     error
		msg    string
	}{
		{"missing dir", policies.Policy{Dirs: []policies.Dir{{Host: "/no/such/dir", Guest: "/data"}}}, policies.ErrInvalid, "does not exist"},
		{"file as dir", policies.Policy{Dirs: []policies.Dir{{Host: file, Guest: "/data"}}}, policies.ErrInvalid, "not a directory"},
		{"same guest twice", policies.Policy{Dirs: []policies.Dir{{Host: existing, Guest: "/data"}, {Host: existing, Guest: "/data"}}}, policies.ErrInvalid, "granted twice"},
		{"memory too big", policies.Policy{Memory: 8 << 30}, policies.ErrInvalid, "memory limit"},
		{"env not UTF-8", policies.Policy{Env: []policies.Env{{Key: "K", Value: "\xff"}}}, policies.ErrInvalid, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"), Policy: tc.policy})
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.is, tc.msg)
			}
			if supervisor.ExitCode(nil, err) != supervisor.ExitInternal {
				t.Errorf("exit code %d, want %d", supervisor.ExitCode(nil, err), supervisor.ExitInternal)
			}
		})
	}
}

// fsTree records every entry below dir with its content and mode, to prove
// nothing changed.
func fsTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		desc := fmt.Sprintf("%v %d", fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		tree[rel] = desc
		return nil
	})
	return tree
}

func fsopsDir(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "existing.txt"), []byte("original\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "victim.txt"), []byte("victim\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "subdir"), 0o755)
	return dir
}

var fsOps = []string{"read", "write", "append", "ftruncate", "truncate", "create", "unlink", "mkdir", "rmdir", "symlink", "utimes", "rename"}

func TestFS_readOnly(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		dir := fsopsDir(t)
		before := fsTree(t, dir)
		_, out, _, err := invoke(t, s, supervisor.Call{Module: "fsops.wasm",
			Policy: policies.Policy{Dirs: []policies.Dir{{Host: dir, Guest: "/data"}}}})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(fsOps) {
			t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(fsOps), out)
		}
		for i, op := range fsOps {
			want := op + ": denied ("
			if op == "read" {
				want = "read: ok"
			}
			if !strings.HasPrefix(lines[i], want) {
				t.Errorf("line %d = %q, want %q…", i, lines[i], want)
			}
		}
		after := fsTree(t, dir)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("read-only dir changed:\nbefore %v\nafter  %v", before, after)
		}
	})
}

func TestFS_readWrite(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		dir := fsopsDir(t)
		_, out, _, err := invoke(t, s, supervisor.Call{Module: "fsops.wasm",
			Policy: policies.Policy{Dirs: []policies.Dir{{Host: dir, Guest: "/data", Writable: true}}}})
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for _, op := range fsOps {
			want.WriteString(op + ": ok\n")
		}
		if out != want.String() {
			t.Fatalf("got\n%s\nwant\n%s", out, want.String())
		}
		var names []string
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		if got := strings.Join(names, " "); got != "created.txt link newdir renamed.txt" {
			t.Errorf("dir holds %q", got)
		}
		// What a module creates is private to its owner (umask 077).
		for name, want := range map[string]os.FileMode{"created.txt": 0o600, "newdir": 0o700} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v (%v), want %v", name, fi.Mode().Perm(), err, want)
			}
		}
	})
}

func TestFS_denied(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		// Without a grant the module sees no file system at all.
		s := newSupervisor(t, iso)
		dir := fsopsDir(t)
		res, out, errs, err := invoke(t, s, supervisor.Call{Module: "cat.wasm", Args: []string{filepath.Join(dir, "existing.txt")}})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 1 || out != "" || !strings.HasPrefix(errs, "cat: ") {
			t.Errorf("got exit %d stdout %q stderr %q; want the read refused", res.ExitCode, out, errs)
		}
	})
}

func TestFS_escape(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		dir := t.TempDir()
		os.Symlink("/etc", filepath.Join(dir, "link-out"))
		os.Symlink("/etc/passwd", filepath.Join(dir, "link-file"))
		os.Mkdir(filepath.Join(dir, "sub"), 0o755)
		for _, writable := range []bool{false, true} {
			_, out, _, err := invoke(t, s, supervisor.Call{Module: "escape.wasm",
				Policy: policies.Policy{Dirs: []policies.Dir{{Host: dir, Guest: "/data", Writable: writable}}}})
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 9 {
				t.Fatalf("got %d lines, want 9:\n%s", len(lines), out)
			}
			for _, l := range lines {
				if !strings.HasSuffix(l, ": denied") {
					t.Errorf("writable=%v: %s", writable, l)
				}
			}
		}
	})
}

func TestEnv(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		t.Setenv("AGENTCTL_TEST_SECRET", "hunter2")
		s := newSupervisor(t, iso)
		_, out, _, err := invoke(t, s, supervisor.Call{Module: "env.wasm"})
		if err != nil {
			t.Fatal(err)
		}
		if out != "env: 0 variables\n" {
			t.Errorf("empty policy: module saw %q", out)
		}
		_, out, _, err = invoke(t, s, supervisor.Call{Module: "env.wasm",
			Policy: policies.Policy{Env: []policies.Env{{Key: "TZ", Value: "UTC"}, {Key: "EMPTY"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if out != "TZ=UTC\nEMPTY=\nenv: 2 variables\n" {
			t.Errorf("granted env: module saw %q", out)
		}
	})
}

func TestConcurrent(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want := fmt.Sprintf("hello, caller-%d\n", i)
				res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm", Args: []string{fmt.Sprintf("caller-%d", i)}})
				switch {
				case err != nil:
					errs <- err
				case out != want || res.ExitCode != 0:
					errs <- fmt.Errorf("call %d got %q exit %d", i, out, res.ExitCode)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestCache(t *testing.T) {
	home := t.TempDir()
	sup := openSupervisor(t, home)
	s := &testSupervisor{sup, policies.IsolationContainer}
	res, _, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
	if err != nil || res.CacheHit {
		t.Fatalf("first call: cache hit %v, err %v; want a compile", res.CacheHit, err)
	}
	entry := cacheEntry(t, home)
	st, _ := os.Stat(filepath.Join(home, "cache"))
	if st.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, want 0700", st.Mode().Perm())
	}
	res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
	if err != nil || !res.CacheHit || out != "hello, world\n" {
		t.Fatalf("second call: cache hit %v out %q err %v", res.CacheHit, out, err)
	}

	good, _ := os.ReadFile(entry)
	for _, tc := range []struct {
		name    string
		corrupt func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"flipped byte", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/3] ^= 0xff; return c }},
		{"empty", func([]byte) []byte { return nil }},
		{"garbage", func([]byte) []byte { return []byte("\x00asm garbage that is not compiled code") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(entry, tc.corrupt(good), 0o600); err != nil {
				t.Fatal(err)
			}
			res, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"})
			if err != nil || res.CacheHit || out != "hello, world\n" {
				t.Fatalf("corrupt entry: cache hit %v out %q err %v; want a recompile", res.CacheHit, out, err)
			}
			// The recompiled entry replaced the corrupt one.
			res, _, _, err = invoke(t, s, supervisor.Call{Module: "hello.wasm"})
			if err != nil || !res.CacheHit {
				t.Fatalf("after recompile: cache hit %v err %v", res.CacheHit, err)
			}
		})
	}
	sup.Close() // waits for the last workers' teardown
	tmp, _ := os.ReadDir(filepath.Join(home, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("%d temporary files left behind", len(tmp))
	}
}

func TestCancel(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan struct{})
		var res *supervisor.Result
		var err error
		go func() {
			defer close(done)
			res, err = s.Invoke(ctx, &supervisor.Call{Module: fixtures.Path("sleep.wasm"), Args: []string{"60000"},
				Policy: policies.Policy{Isolation: iso}, Stdout: pw})
		}()
		// Cancel once the module is surely running.
		br := bufio.NewReader(pr)
		if line, err := br.ReadString('\n'); line != "sleeping\n" {
			t.Fatalf("read %q, %v", line, err)
		}
		go io.Copy(io.Discard, br)
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Minute): // a bound against a hang; teardown is slow under load
			t.Fatal("Invoke did not return after cancel")
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != supervisor.Cancelled {
			t.Fatalf("got %v, want cancelled", res.Outcome)
		}
		assertReaped(t, res.WorkerPid)
	})
}

func TestPrecompile(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		res, err := s.Precompile(context.Background(), fixtures.Path("stdout_stderr.wasm"), iso)
		if err != nil || res.CacheHit {
			t.Fatalf("precompile: %v (cache hit %v), want a compile", err, res != nil && res.CacheHit)
		}
		assertReaped(t, res.WorkerPid)
		// Nothing ran: the module would have written and exited 7.
		if res.Output != 0 || res.ExitCode != 0 {
			t.Errorf("precompile ran the module: output %d, exit %d", res.Output, res.ExitCode)
		}
		res, out, _, err := invoke(t, s, supervisor.Call{Module: "stdout_stderr.wasm"})
		if err != nil || !res.CacheHit || out != "out 1\nout 2\n" {
			t.Fatalf("first call after precompile: cache hit %v, out %q, %v", res.CacheHit, out, err)
		}
		if _, err := s.Precompile(context.Background(), fixtures.Path("truncated.wasm"), iso); !errors.Is(err, supervisor.ErrModuleInvalid) {
			t.Errorf("precompiling a broken module: %v", err)
		}
	})
}

// TestInvoke_sharedCall runs one Call from several goroutines at once, as
// a benchmark or a server reusing its calls would: Invoke reads the Call
// and never writes it (it used to append its home to Policy.Protected on
// every call, a data race and a list that grew).
func TestInvoke_sharedCall(t *testing.T) {
	s := newSupervisor(t, policies.IsolationProcess)
	protected := []string{t.TempDir()}
	call := &supervisor.Call{
		Module: fixtures.Path("hello.wasm"),
		Policy: policies.Policy{Isolation: policies.IsolationProcess, Protected: protected},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Invoke(context.Background(), call)
			if err == nil && res.ExitCode != 0 {
				err = fmt.Errorf("exit code %d", res.ExitCode)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if !slices.Equal(call.Policy.Protected, protected) {
		t.Errorf("Invoke changed the caller's Policy.Protected: %q, want %q", call.Policy.Protected, protected)
	}
}

// TestInvoke_timeoutCoversLoad: with Call.TimeoutCoversLoad (agent-ctl
// run), the time limit bounds compiling too, as `timeout 2s wasmtime run`
// would; a Go module takes about a second to compile, far past 50ms.
// Without it (installed tools, compiled at install), compiling has its own
// limit and the call's bounds the run alone.
func TestInvoke_timeoutCoversLoad(t *testing.T) {
	goHello := filepath.Join(fixtures.Dir(), "..", "..", "modules", "hello", "hello-go.wasm")
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		// Not invoke(): the worker is killed while it loads, so the
		// result names none.
		res, err := s.Invoke(context.Background(), &supervisor.Call{Module: goHello,
			Policy: policies.Policy{Isolation: iso, Timeout: 50 * time.Millisecond}, TimeoutCoversLoad: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != supervisor.TimedOut || res.Limit != "50ms" || supervisor.ExitCode(res, nil) != supervisor.ExitTimeout {
			t.Errorf("a 50ms call that must compile first: %v, limit %q, exit %d; want timed out at 50ms, exit %d",
				res.Outcome, res.Limit, supervisor.ExitCode(res, nil), supervisor.ExitTimeout)
		}
		if !strings.Contains(res.Describe(), "time limit of 50ms reached") {
			t.Errorf("message %q", res.Describe())
		}

		res, out, _, err := invoke(t, s, supervisor.Call{Module: goHello, Args: []string{"--name", "go"},
			Policy: policies.Policy{Timeout: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != supervisor.Exited || res.CacheHit || !strings.Contains(out, "go") {
			t.Errorf("a 1s call that compiles under its own limit: %v (cache hit %v), output %q; want exited after compiling", res.Outcome, res.CacheHit, out)
		}
		t.Logf("compiled in %s", res.Timings.Load)
	})
}
