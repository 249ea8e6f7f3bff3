// Package protocol is the wire between the supervisor and a worker process.
// It owns the go-plugin dependency: the handshake, the net/rpc service the
// worker serves, and the client the supervisor dials; and the call
// channel beside it.
//
// A worker serves exactly one call: Prepare (load or compile the module,
// outside the call's time limit), then Run (instantiate and run it under the
// limit). Prepare goes over go-plugin's RPC; Run, on unix, over the call
// channel, a socket pair of the worker's own with one fixed binary frame
// each way (channel.go, frame.go), and over the RPC on Windows. The
// module's stdin, stdout and stderr never travel over either:
// they are pipes passed to the worker as file descriptors 3, 4 and 5 (on
// Windows, named pipes the worker opens by name: see StdioPipesEnv), so
// output streams to the supervisor as the module writes it.
package protocol

import (
	"time"
)

// Fixed file descriptors of the module's stdio inside the worker.
const (
	FDStdin  = 3
	FDStdout = 4
	FDStderr = 5
)

// WorkerArg is the hidden first argument that makes the agent-ctl binary
// act as a worker instead of a CLI.
const WorkerArg = "__agent-ctl-worker"

// IsWorker reports whether args (os.Args) start this binary as a worker.
// It is here, not in package worker, so that a main can ask without the
// question alone linking wasmtime.
func IsWorker(args []string) bool {
	return len(args) > 1 && args[1] == WorkerArg
}

// Dir is a preopened directory as the worker sees it.
type Dir struct {
	Host     string
	Guest    string
	Writable bool
	// FD, when not zero, is the directory as the worker inherited it (a
	// descriptor the supervisor opened and checked, under process
	// isolation): the worker opens /proc/self/fd/FD, never Host's name
	// again, which may lead elsewhere by now. Under container isolation it
	// is zero and Host is the mount the supervisor made from it.
	FD int
}

// Request prepares a worker: the module and what confines it, fixed when
// the worker is spawned.
type Request struct {
	// ModulePath is the module's .wasm file as the worker sees it.
	ModulePath string
	// ModuleFD, when not zero, is the module file as the worker inherited
	// it (process isolation): the worker reads /proc/self/fd/ModuleFD, the
	// file the supervisor checked, not ModulePath's name again.
	ModuleFD int
	// Digest is the hex sha256 of the module bytes the supervisor checked;
	// the worker refuses bytes that hash differently.
	Digest string
	// CacheFile is the precompiled module to load if present and intact.
	CacheFile string
	// CacheVerified says that the supervisor has checked the entry's
	// trailer and checksum, and that the worker may map it without hashing
	// it again: under process isolation /proc/self/fd/CacheFD, the file
	// the supervisor checked and which the worker cannot write; in a
	// container CacheFile, a read-only mount made from the descriptor the
	// supervisor checked, the one mount that permits mapping it
	// executable, if the file opened has CacheIdentity. See docs/why.md.
	CacheVerified bool
	// CacheIdentity, when not empty, is the identity (cache.Identity) of
	// the entry the supervisor verified, for a worker that sees the entry
	// by its name (container isolation, a read-only mount): the worker
	// opens CacheFile and, if that file has this identity, maps it
	// (CacheVerified) or reads it without hashing it again; else it
	// checks it as any entry.
	CacheIdentity string
	// CacheFD, when not zero, is the verified cache entry as the worker
	// inherited it (process isolation).
	CacheFD int
	// CompileOut is where the worker writes freshly compiled code when
	// CacheFile was missing or corrupt; the supervisor moves it into the
	// cache. Empty disables writing.
	CompileOut string
	// Dirs are the preopened directories.
	Dirs []Dir
	// Memory caps linear memory in bytes.
	Memory int64
	// CallFD, when not zero, is the worker's end of its call channel
	// (FDCall): the worker waits there for its call once prepared. Set
	// by Conn.Prepare.
	CallFD int
}

// RunArgs is what one call adds to a prepared worker: everything that may
// differ between calls served by workers prepared alike (a warm pool keys
// workers by their Request).
type RunArgs struct {
	// Args is the module's argv, argv[0] included.
	Args []string
	// Env is the module's whole environment as KEY=VALUE.
	Env []string
	// Timeout caps the run (instantiate and _start).
	Timeout time.Duration
	// NetID names the supervisor's network service stream (see
	// Conn.ServeNetwork); zero when the call has no network grants.
	NetID uint32
}

// Outcome is how a run ended.
type Outcome int

const (
	// Exited: the module returned from _start or called proc_exit.
	Exited Outcome = iota
	// Trapped: the module hit a WebAssembly trap.
	Trapped
	// TimedOut: the time limit interrupted the module.
	TimedOut
	// MemoryLimit: the module needed more linear memory than allowed.
	MemoryLimit
)

// Prepared reports the preparation step.
type Prepared struct {
	// CacheHit is true when precompiled code was loaded from CacheFile.
	CacheHit bool
	// Compiled is true when the worker compiled and wrote CompileOut.
	Compiled bool
	// CacheProblem says why an existing cache entry was not used.
	CacheProblem string
	// CacheWriteProblem says why freshly compiled code could not be
	// written to CompileOut (a full disk, say).
	CacheWriteProblem string
	LoadTime          time.Duration
}

// Result reports the run.
type Result struct {
	Outcome  Outcome
	ExitCode int32
	// Trap is the trap's kind ("unreachable", "stack overflow", …) when
	// Outcome is Trapped, TimedOut or MemoryLimit.
	Trap string
	// Message is the runtime's own message for the trap.
	Message string
	// Frames is a short wasm backtrace, innermost first.
	Frames []string
	// MemoryBytes is the size of the module's linear memory at the end.
	MemoryBytes int64

	InstantiateTime time.Duration
	RunTime         time.Duration
}

// Worker is what a worker process implements.
type Worker interface {
	Prepare(req *Request) (*Prepared, error)
	// Run runs the prepared module; network serves its agent_ctl network
	// functions, nil when the call was granted no network.
	Run(args *RunArgs, network Network) (*Result, error)
}

// ErrorKind classifies a Prepare failure for the supervisor.
type ErrorKind int

const (
	// KindInternal is a fault of the worker or the runtime.
	KindInternal ErrorKind = iota
	// KindModuleInvalid: the module does not compile, link or fit.
	KindModuleInvalid
	// KindMemoryLimit: the module asks for more memory than allowed.
	KindMemoryLimit
)

// Error crosses the RPC boundary with its kind intact.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
