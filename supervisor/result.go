package supervisor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies"
)

// Errors that Invoke wraps; classify with errors.Is.
var (
	// ErrModuleNotFound: the module file does not exist.
	ErrModuleNotFound = wasmfile.ErrNotFound
	// ErrModuleInvalid: the file is not a runnable WASI preview-1 command
	// module (not wasm, a component, does not compile, unknown imports).
	ErrModuleInvalid = wasmfile.ErrInvalid
	// ErrWorker: the worker process failed for a reason of its own.
	ErrWorker = errors.New("worker failed")
	// ErrModuleChanged: the module file no longer hashes to the digest the
	// call expects (Call.Digest: the store's record of it). It wraps
	// ErrModuleInvalid.
	ErrModuleChanged = fmt.Errorf("%w: module file changed since it was installed", ErrModuleInvalid)
)

// errLoadTimeout is the cause of a call's context when its time limit ran
// out before its module was loaded (Call.TimeoutCoversLoad).
var errLoadTimeout = errors.New("time limit reached before the module was loaded")

// Outcome is how a call ended. Only Exited carries the module's own exit
// code; the rest are agent-ctl stopping the module.
type Outcome int

const (
	// Exited: the module returned from _start or called proc_exit;
	// Result.ExitCode is its code.
	Exited Outcome = iota
	// Trapped: the module trapped (unreachable, a bad memory access, a
	// stack overflow, a Go or Rust panic that aborts).
	Trapped
	// TimedOut: the call's time limit ran out; the worker was stopped.
	TimedOut
	// MemoryLimit: the module needed more linear memory than its limit (a
	// grow refused at the limit, or more than the limit at start).
	MemoryLimit
	// OutputLimit: stdout and stderr together passed the output limit; the
	// worker was stopped and the output cut there.
	OutputLimit
	// Cancelled: the caller's context ended (a signal, a client that went
	// away, an MCP cancellation) before the module did, or the caller's
	// stdout or stderr refused a write.
	Cancelled
)

var outcomeNames = [...]string{"exited", "trapped", "timed out", "memory limit", "output limit", "cancelled"}

// String names the outcome in the audit log, metrics, fleet results and logs.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Exit codes of agent-ctl's own outcomes, in the tradition of timeout(1)
// and of shells reporting 128+signal. docs/exit-codes.md explains them.
const (
	ExitTimeout     = 124
	ExitInternal    = 125
	ExitInvalid     = 126
	ExitNotFound    = 127
	ExitInterrupted = 130 // 128+SIGINT
	ExitTrap        = 132 // 128+SIGILL, as a native illegal instruction
	ExitMemoryLimit = 137 // 128+SIGKILL, as an out-of-memory kill
	ExitOutputLimit = 141 // 128+SIGPIPE, as a reader that stopped reading
	ExitTerminated  = 143 // 128+SIGTERM
)

// Timings breaks a call down by step.
type Timings struct {
	// Wait is how long the call waited for its turn to start a worker
	// (Options.MaxStarts); zero for a pooled worker.
	Wait time.Duration
	// Spawn is starting the worker and completing the handshake.
	Spawn time.Duration
	// Load is reading precompiled code, or compiling, inside the worker.
	Load time.Duration
	// Instantiate and Run are measured inside the worker.
	Instantiate time.Duration
	Run         time.Duration
	// Call is the call's round trip as the supervisor sees it: from
	// sending the arguments to the worker to receiving its result, the
	// worker's Instantiate and Run included. The rest is the transport.
	Call time.Duration
	// Total is the whole Invoke.
	Total time.Duration
}

// Result is what a call did.
type Result struct {
	// Module is the module's name as shown in messages.
	Module string
	// Digest is the hex SHA-256 of the module's bytes.
	Digest  string
	Outcome Outcome
	// ExitCode is the module's own exit code when Outcome is Exited.
	ExitCode int
	// Trap is the trap's kind, Message the runtime's words for it and Frames
	// a short wasm backtrace, innermost first.
	Trap    string
	Message string
	Frames  []string
	// Panic is set when the module printed a Rust or Go panic on stderr and
	// then ended as such a panic ends (Rust: an unreachable trap; Go: exit
	// code 2): "panicked at 'msg', src/main.rs:8:5" (Rust) or
	// "panicked: msg" (Go), its first line as the module printed it.
	Panic string
	// Limit is the limit that stopped the module, for TimedOut, MemoryLimit
	// and OutputLimit, rendered for people ("30s", "128MiB").
	Limit string
	// Output counts the bytes forwarded from stdout and stderr.
	Output int64
	// Isolation names the walls the worker ran behind.
	Isolation string
	// CacheHit is true when no compile was needed.
	CacheHit bool
	// WorkerPid is the worker's host process ID.
	WorkerPid int
	// Pooled is true when the call took a worker the pool had prepared:
	// its spawn and load happened before the call (Timings has neither).
	Pooled  bool
	Timings Timings
}

// Describe says in a line or a few what stopped the module; empty for a
// module that exited on its own, unless it panicked.
func (r *Result) Describe() string {
	var b strings.Builder
	switch r.Outcome {
	case Exited:
		if r.Panic == "" {
			return ""
		}
		fmt.Fprintf(&b, "%s: %s (exit code %d)", r.Module, r.Panic, r.ExitCode)
	case Trapped:
		if r.Panic != "" {
			fmt.Fprintf(&b, "%s: %s; trapped: %s", r.Module, r.Panic, r.Trap)
			break
		}
		fmt.Fprintf(&b, "%s: trapped: %s", r.Module, r.Trap)
		if r.Message != "" && !strings.Contains(r.Trap, r.Message) {
			fmt.Fprintf(&b, " (%s)", r.Message)
		}
	case TimedOut:
		fmt.Fprintf(&b, "%s: time limit of %s reached; the module was stopped (raise it with --timeout)", r.Module, r.Limit)
	case MemoryLimit:
		fmt.Fprintf(&b, "%s: memory limit of %s reached (raise it with --memory)", r.Module, r.Limit)
	case OutputLimit:
		fmt.Fprintf(&b, "%s: output limit of %s reached; the module was stopped (raise it with --max-output)", r.Module, r.Limit)
	case Cancelled:
		fmt.Fprintf(&b, "%s: cancelled; the module was stopped", r.Module)
	}
	for _, f := range r.Frames {
		b.WriteString("\n    at " + f)
	}
	return b.String()
}

// ExitCode maps a call's result, or the error Invoke returned, to the
// process exit code of agent-ctl.
func ExitCode(r *Result, err error) int {
	switch {
	case err == nil:
	case errors.Is(err, ErrModuleNotFound):
		return ExitNotFound
	case errors.Is(err, ErrModuleInvalid):
		return ExitInvalid
	case errors.Is(err, policies.ErrInvalid), errors.Is(err, isolation.ErrUnavailable):
		return ExitInternal
	default:
		return ExitInternal
	}
	switch r.Outcome {
	case Exited:
		return r.ExitCode & 0xff
	case Trapped:
		return ExitTrap
	case TimedOut:
		return ExitTimeout
	case MemoryLimit:
		return ExitMemoryLimit
	case OutputLimit:
		return ExitOutputLimit
	case Cancelled:
		return ExitInterrupted
	}
	return ExitInternal
}
