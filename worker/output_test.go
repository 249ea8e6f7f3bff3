package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// The Windows path of the module's output (wasmtime's custom output, see
// output.go) is platform-neutral: these tests run it here, on a real
// module, with stdin still a path.

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// runWithOutput runs a fixture with stdin from the file stdin and its
// output to stdout and stderr through Host.Output.
func runWithOutput(t *testing.T, module, stdin string, stdout, stderr io.Writer, args ...string) *protocol.Result {
	t.Helper()
	h := &Host{
		StdioPath: func(fd int) string {
			if fd != protocol.FDStdin {
				t.Errorf("StdioPath(%d) asked for an output that has a writer", fd)
			}
			return stdin
		},
		Output: func(fd int) io.Writer {
			switch fd {
			case protocol.FDStdout:
				return stdout
			case protocol.FDStderr:
				return stderr
			}
			t.Errorf("Output(%d) asked for a descriptor that is not an output", fd)
			return nil
		},
	}
	path := fixtures.Path(module)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if _, err := h.Prepare(&protocol.Request{ModulePath: path, Digest: hex.EncodeToString(sum[:]), Memory: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Run(&protocol.RunArgs{Args: append([]string{module}, args...), Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestOutput(t *testing.T) {
	var out, errb testutil.SyncBuffer
	res := runWithOutput(t, "stdout_stderr.wasm", os.DevNull, &out, &errb)
	if res.Outcome != protocol.Exited || res.ExitCode != 7 {
		t.Errorf("outcome %v, exit code %d; want exited with 7", res.Outcome, res.ExitCode)
	}
	if got, want := out.String(), "out 1\nout 2\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got, want := errb.String(), "err 1\nerr 2\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	// wasmtime hands a writer to a task of its own, which lets it go
	// shortly after the store is closed, on a thread of its own.
	if !testutil.Poll(5*time.Second, func() bool { return liveOutputs.Load() == 0 }) {
		t.Fatalf("%d output writers still held by wasmtime 5s after Run", liveOutputs.Load())
	}
}

// TestOutput_stdin runs cat over a large stdin, so that output comes in
// many writes and stdin from a path still works beside custom output.
func TestOutput_stdin(t *testing.T) {
	in := bytes.Repeat([]byte("0123456789abcdef\n"), 40000) // 680 KB
	stdin := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(stdin, in, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb testutil.SyncBuffer
	res := runWithOutput(t, "cat.wasm", stdin, &out, &errb)
	if res.Outcome != protocol.Exited || res.ExitCode != 0 {
		t.Fatalf("outcome %v, exit code %d, stderr %q; want exited with 0", res.Outcome, res.ExitCode, errb.String())
	}
	if out.String() != string(in) {
		t.Errorf("stdout has %d bytes, want the %d of stdin", len(out.String()), len(in))
	}
}

// TestOutput_writeError: a failed Write reaches the module as a failed
// write with the writer's errno, as a closed pipe's EPIPE does on Linux.
func TestOutput_writeError(t *testing.T) {
	stdin := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(stdin, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var errb testutil.SyncBuffer
	res := runWithOutput(t, "cat.wasm", stdin, failingWriter{syscall.EPIPE}, &errb)
	if res.Outcome != protocol.Exited || res.ExitCode != 1 {
		t.Errorf("outcome %v, exit code %d; want exited with 1", res.Outcome, res.ExitCode)
	}
	if got, want := errb.String(), "cat: write: Broken pipe\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

func TestOutputErrno(t *testing.T) {
	if got := outputErrno(syscall.EPIPE); got != int(syscall.EPIPE) {
		t.Errorf("outputErrno(EPIPE) = %d, want %d", got, syscall.EPIPE)
	}
	if got := outputErrno(&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}); got != int(syscall.ENOSPC) {
		t.Errorf("outputErrno(wrapped ENOSPC) = %d, want %d", got, syscall.ENOSPC)
	}
	if got := outputErrno(io.ErrClosedPipe); got != int(ioErrno) {
		t.Errorf("outputErrno(no errno) = %d, want %d", got, ioErrno)
	}
}

// TestWasiConfigLayout fails when a wasmtime-go upgrade changes the
// layout setOutput relies on.
func TestWasiConfigLayout(t *testing.T) {
	if wasiConfigLayout != nil {
		t.Fatal(wasiConfigLayout)
	}
}

// TestOutput_streams: each line reaches the writer when the module writes
// it, not when it ends.
func TestOutput_streams(t *testing.T) {
	var out testutil.TimedWriter
	var errb testutil.SyncBuffer
	res := runWithOutput(t, "stream.wasm", os.DevNull, &out, &errb, "3", "200")
	if res.Outcome != protocol.Exited || res.ExitCode != 0 {
		t.Fatalf("outcome %v, exit code %d, stderr %q; want exited with 0", res.Outcome, res.ExitCode, errb.String())
	}
	if got, want := out.String(), "tick 0\ntick 1\ntick 2\n"; got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	// The module writes a line every 200ms: the first and the last write
	// must be as far apart.
	at := out.Times()
	if gap := at[len(at)-1].Sub(at[0]); gap < 300*time.Millisecond {
		t.Errorf("the writes came within %s, want about 400ms: output is not streamed", gap)
	}
}

// TestPrepare_stdioLater: the WASI configuration is made while preparing
// when the module's stdio can be opened then; when it cannot, Prepare still
// succeeds (compiling for the cache needs no stdio) and Run says why.
func TestPrepare_stdioLater(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent", "stdio")
	h := &Host{StdioPath: func(int) string { return missing }}
	path := fixtures.Path("hello.wasm")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if _, err := h.Prepare(&protocol.Request{ModulePath: path, Digest: hex.EncodeToString(sum[:]), Memory: 64 << 20}); err != nil {
		t.Fatalf("Prepare without stdio: %v", err)
	}
	_, err = h.Run(&protocol.RunArgs{Args: []string{"hello"}, Timeout: time.Minute}, nil)
	if err == nil || !strings.Contains(err.Error(), "opening module stdio fd") {
		t.Fatalf("Run without stdio: %v, want the stdio error", err)
	}
}
