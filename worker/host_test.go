package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/worker/cache"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// Host in process, on the real fixtures and the real engine: what Prepare
// refuses, how Run's outcome is classified, and the memory heuristic. The
// supervisor's tests cover the same through a worker process; these name
// the Host's own part when one of them fails.

// request is a Prepare request for a fixture with its true digest.
func request(t testing.TB, module string, memory int64) *protocol.Request {
	t.Helper()
	path := fixtures.Path(module)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return &protocol.Request{ModulePath: path, Digest: hex.EncodeToString(sum[:]), Memory: memory}
}

// newHost is a Host whose module reads an empty stdin and writes to files
// (not Host.Output: output writers are counted by TestOutput, and a Host
// prepared but never run keeps its own until the process exits).
func newHost(t testing.TB) (h *Host, stdout, stderr *outputFile) {
	t.Helper()
	dir := t.TempDir()
	paths := map[int]string{
		protocol.FDStdin:  filepath.Join(dir, "stdin"),
		protocol.FDStdout: filepath.Join(dir, "stdout"),
		protocol.FDStderr: filepath.Join(dir, "stderr"),
	}
	for _, p := range paths {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h = &Host{StdioPath: func(fd int) string { return paths[fd] }}
	return h, &outputFile{t, paths[protocol.FDStdout]}, &outputFile{t, paths[protocol.FDStderr]}
}

// outputFile is a module's output file.
type outputFile struct {
	t    testing.TB
	path string
}

func (f *outputFile) String() string {
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func TestHost_prepareRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		module string
		memory int64
		edit   func(*protocol.Request)
		kind   protocol.ErrorKind
		msg    string // substring
	}{
		{"not wasm", "notwasm.wasm", 64 << 20, nil, protocol.KindModuleInvalid, "compiling module"},
		{"truncated", "truncated.wasm", 64 << 20, nil, protocol.KindModuleInvalid, "compiling module"},
		{"component", "component.wasm", 64 << 20, nil, protocol.KindModuleInvalid, "compiling module"},
		{"unknown import", "imports.wasm", 64 << 20, nil, protocol.KindModuleInvalid, "imports env::evil_host_call, which agent-ctl does not provide"},
		{"memory above the limit at start", "trap.wasm", 32 << 10, nil, protocol.KindMemoryLimit, "needs 65536 bytes of linear memory at start, above the limit of 32768"},
		{"module changed after its digest", "hello.wasm", 64 << 20,
			func(r *protocol.Request) { r.Digest = strings.Repeat("0", 64) }, protocol.KindModuleInvalid, "changed while it was being loaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := newHost(t)
			req := request(t, tc.module, tc.memory)
			if tc.edit != nil {
				tc.edit(req)
			}
			_, err := h.Prepare(req)
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Kind != tc.kind || !strings.Contains(perr.Msg, tc.msg) {
				t.Fatalf("Prepare(%s) = %v, want a %v error containing %q", tc.module, err, tc.kind, tc.msg)
			}
		})
	}
}

// TestHost_prepareCache: a compile writes a cache entry that a second Host
// loads instead of compiling; a corrupt entry is reported and recompiled,
// never loaded.
func TestHost_prepareCache(t *testing.T) {
	dir := t.TempDir()
	entry := filepath.Join(dir, "entry.cwasm")

	h, _, _ := newHost(t)
	req := request(t, "hello.wasm", 64<<20)
	req.CompileOut = entry
	p, err := h.Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Compiled || p.CacheHit || p.CacheWriteProblem != "" {
		t.Fatalf("first Prepare = %+v, want a compile that wrote its entry", p)
	}
	if err := cache.Verify(entry); err != nil {
		t.Fatalf("the compile's entry: %v", err)
	}

	h, stdout, _ := newHost(t)
	req = request(t, "hello.wasm", 64<<20)
	req.CacheFile = entry
	if p, err = h.Prepare(req); err != nil || !p.CacheHit || p.Compiled || p.CacheProblem != "" {
		t.Fatalf("Prepare from the entry = %+v, %v; want a cache hit", p, err)
	}
	if res, err := h.Run(&protocol.RunArgs{Args: []string{"hello"}, Timeout: time.Minute}, nil); err != nil || res.Outcome != protocol.Exited || stdout.String() != "hello, world\n" {
		t.Fatalf("Run from the cache = %+v, %v, stdout %q", res, err, stdout.String())
	}

	b, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	corrupt := filepath.Join(dir, "corrupt.cwasm")
	if err := os.WriteFile(corrupt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	h, _, _ = newHost(t)
	req = request(t, "hello.wasm", 64<<20)
	req.CacheFile = corrupt
	if p, err = h.Prepare(req); err != nil || p.CacheHit || !p.Compiled || !strings.Contains(p.CacheProblem, "checksum") {
		t.Fatalf("Prepare from a corrupt entry = %+v, %v; want a recompile that names the checksum", p, err)
	}

	// A missing entry is a plain miss, not a problem to report.
	h, _, _ = newHost(t)
	req = request(t, "hello.wasm", 64<<20)
	req.CacheFile = filepath.Join(dir, "missing.cwasm")
	if p, err = h.Prepare(req); err != nil || p.CacheHit || !p.Compiled || p.CacheProblem != "" {
		t.Fatalf("Prepare with a missing entry = %+v, %v; want a quiet compile", p, err)
	}
}

// TestHost_run: how Run classifies each way a module ends, trap kinds and
// the memory heuristic included.
func TestHost_run(t *testing.T) {
	for _, tc := range []struct {
		name    string
		module  string
		args    []string
		memory  int64
		timeout time.Duration
		want    protocol.Result // Outcome, ExitCode, Trap; Message and Frames by substring below
		message string
		frames  []string // each a prefix of one frame, in order
		stdout  string
	}{
		{name: "exits 0", module: "hello.wasm", stdout: "hello, world\n",
			want: protocol.Result{Outcome: protocol.Exited}},
		{name: "exit code", module: "exit.wasm", args: []string{"9"},
			want: protocol.Result{Outcome: protocol.Exited, ExitCode: 9}},
		{name: "unreachable", module: "trap.wasm",
			want:    protocol.Result{Outcome: protocol.Trapped, Trap: "unreachable"},
			message: "unreachable", frames: []string{"inner", "outer", "_start"}},
		// Built with -g: the DWARF line table names each frame's line;
		// Rust's legacy-mangled names come out demangled.
		{name: "trap with C debug info", module: "linetrap.wasm",
			want:    protocol.Result{Outcome: protocol.Trapped, Trap: "integer division by zero"},
			message: "divide by zero", frames: []string{"divide (linetrap.c:12:11) @ 0x", "main (linetrap.c:17:9) @ 0x"}},
		{name: "trap with Rust debug info", module: "rtrap.wasm",
			want:    protocol.Result{Outcome: protocol.Trapped, Trap: "unreachable"},
			message: "unreachable", frames: []string{"__rust_start_panic (", "rust_panic (",
				"std::panicking::rust_panic_with_hook (", "std::panicking::begin_panic_handler::{{closure}} (",
				"std::sys_common::backtrace::__rust_end_short_backtrace (", "rust_begin_unwind (",
				"core::panicking::panic_fmt (", "core::panicking::panic (/usr/src/rustc-1.63.0/library/core/src/panicking.rs:48:5) @ 0x",
				"rtrap::divide (rtrap.rs:8:5) @ 0x", "rtrap::main (rtrap.rs:13:24) @ 0x"}},
		{name: "stack overflow", module: "recurse.wasm",
			want: protocol.Result{Outcome: protocol.Trapped, Trap: "stack overflow"}},
		{name: "time limit", module: "loop.wasm", timeout: 100 * time.Millisecond,
			want: protocol.Result{Outcome: protocol.TimedOut, Trap: "interrupt"}},
		{name: "time limit in a start function", module: "startloop.wasm", timeout: 100 * time.Millisecond,
			want: protocol.Result{Outcome: protocol.TimedOut, Trap: "interrupt"}},
		// memory.grow fails quietly at the limit and the module traps:
		// the heuristic reports the limit, not the trap.
		{name: "memory limit, trap", module: "memgrow.wasm", memory: 2 << 20,
			want: protocol.Result{Outcome: protocol.MemoryLimit, Trap: "unreachable"}},
		// malloc fails, the module reports and aborts: the same, through
		// libc. 1 MiB blocks: the limit's margin (1/16) must cover one.
		{name: "memory limit, libc", module: "malloc.wasm", memory: 16 << 20,
			want: protocol.Result{Outcome: protocol.MemoryLimit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, stdout, _ := newHost(t)
			memory := tc.memory
			if memory == 0 {
				memory = 64 << 20
			}
			if _, err := h.Prepare(request(t, tc.module, memory)); err != nil {
				t.Fatal(err)
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			res, err := h.Run(&protocol.RunArgs{Args: append([]string{tc.module}, tc.args...), Timeout: timeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.want.Outcome || res.ExitCode != tc.want.ExitCode || (tc.want.Trap != "" && res.Trap != tc.want.Trap) {
				t.Fatalf("Run = outcome %v exit %d trap %q (%s), want outcome %v exit %d trap %q",
					res.Outcome, res.ExitCode, res.Trap, res.Message, tc.want.Outcome, tc.want.ExitCode, tc.want.Trap)
			}
			if !strings.Contains(res.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", res.Message, tc.message)
			}
			if len(res.Frames) < len(tc.frames) {
				t.Fatalf("frames %q, want %d or more", res.Frames, len(tc.frames))
			}
			for i, f := range tc.frames {
				if !strings.HasPrefix(res.Frames[i], f) {
					t.Errorf("frame %d is %q, want %s…", i, res.Frames[i], f)
				}
			}
			if tc.stdout != "" && stdout.String() != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.stdout)
			}
			if tc.want.Outcome == protocol.MemoryLimit && (res.MemoryBytes == 0 || res.MemoryBytes > memory) {
				t.Errorf("memory at the end %d bytes, want some, at most the limit %d", res.MemoryBytes, memory)
			}
		})
	}
}

func TestHost_runBeforePrepare(t *testing.T) {
	h, _, _ := newHost(t)
	if _, err := h.Run(&protocol.RunArgs{Timeout: time.Second}, nil); err == nil {
		t.Fatal("Run before Prepare succeeded")
	}
}

// TestAtMemoryLimit: a failure counts as the memory limit only when
// memory could not have grown by a typical allocation.
func TestAtMemoryLimit(t *testing.T) {
	const page = 65536
	for _, tc := range []struct {
		name         string
		limit, start int64
		size         int64
		want         bool
	}{
		{"no memory", 64 << 20, page, 0, false},
		{"at its initial size, far from the limit", 64 << 20, 16 * page, 16 * page, false},
		{"within a page of the limit", 64 << 20, page, 64<<20 - page + 1, true},
		{"grown to within the margin (4MiB of 64MiB)", 64 << 20, page, 64<<20 - 4<<20, true},
		{"grown, but short of the margin", 64 << 20, page, 64<<20 - 4<<20 - page, false},
		{"declared near the limit, never grown", 64 << 20, 63 << 20, 63 << 20, false},
		{"small limit: margin of one page", 512 << 10, page, 512<<10 - page, true},
		{"small limit: two pages short", 512 << 10, page, 512<<10 - 2*page, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Host{req: &protocol.Request{Memory: tc.limit}, initialMemory: tc.start}
			if got := h.atMemoryLimit(tc.size); got != tc.want {
				t.Errorf("atMemoryLimit(%d) with limit %d, initial %d = %v, want %v (margin %d)",
					tc.size, tc.limit, tc.start, got, tc.want, memoryMargin(tc.limit))
			}
		})
	}
	for _, tc := range []struct{ limit, want int64 }{
		{page, page}, {16 * page, page}, {32 * page, 2 * page}, {64 << 20, 4 << 20}, {4 << 30, 4 << 20},
	} {
		if got := memoryMargin(tc.limit); got != tc.want {
			t.Errorf("memoryMargin(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

// TestHost_noLinesPastDeadline: a call whose time is up (here a 1ns limit:
// the epoch interrupts the module, or it traps after its deadline) gets
// frames with names but no source lines, whose reading could outlast the
// supervisor's backstop.
func TestHost_noLinesPastDeadline(t *testing.T) {
	h, _, _ := newHost(t)
	if _, err := h.Prepare(request(t, "linetrap.wasm", 64<<20)); err != nil {
		t.Fatal(err)
	}
	res, err := h.Run(&protocol.RunArgs{Args: []string{"linetrap.wasm"}, Timeout: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Frames) == 0 || (res.Outcome != protocol.TimedOut && res.Outcome != protocol.Trapped) {
		t.Fatalf("outcome %v frames %q, want a trap or the time limit, with frames", res.Outcome, res.Frames)
	}
	for _, f := range res.Frames {
		if strings.Contains(f, ") @ 0x") { // name (file:line:column) @ 0x…
			t.Errorf("frame %q has a source line past the deadline", f)
		}
	}
}
