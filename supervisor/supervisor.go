// Package supervisor is the one dispatch entry point of agent-ctl: every
// front-end (the CLI in cmd/agent-ctl, the MCP server in cmd/internal/mcp,
// the fleet's agent in cmd/internal/fleet) builds a Call and passes it to
// Invoke. Each call gets a fresh worker process behind the walls its
// policy asks for (package isolation); the supervisor streams the
// module's stdio through pipes, enforces the output cap and a time-limit
// backstop from outside the worker, and reports how the call ended.
//
// The files follow a call: supervisor.go (Options, New, Call, Invoke),
// start.go (obtaining a worker: the pool, the start gate, spawn, load),
// run.go (the call in its worker), crash.go and tail.go (a worker that
// crashed), promote.go (compiled code into the cache), pool.go, dirs.go.
//
// The package does not link wasmtime: it speaks to the worker through
// worker/protocol and checks cache entries with worker/cache. Of the module
// formats under modules/ it uses only wasmfile (the checks of a module file
// before any worker is spawned); the manifest, the store and the catalog
// sit above it and call Invoke.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/worker/cache"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// MaxModuleSize bounds the module files agent-ctl reads.
const MaxModuleSize = wasmfile.MaxSize

// workerOverhead is what a worker needs beyond the module's linear memory
// (Go runtime, wasmtime, compiled code, compiling a large module): the
// worker's cgroup memory limit is the module's cap plus this.
const workerOverhead = 256 << 20

// Options configures a Supervisor. The zero value of every field is a
// sensible default.
type Options struct {
	// Home holds agent-ctl's state (cache, temporary files). Empty means
	// $AGENTCTL_HOME, or ~/.agent-ctl.
	Home string
	// WorkerPath is the executable started as a worker; empty means
	// agent-ctl-worker beside this executable if it is there (it starts
	// faster: no CLI in it), else this executable. WorkerArgs are its
	// arguments; nil means the hidden worker argument.
	WorkerPath string
	WorkerArgs []string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// CompileTimeout bounds loading or compiling a module, which happens
	// before and outside the call's own time limit; zero means 2 minutes.
	CompileTimeout time.Duration
	// Container configures container isolation; nil means its defaults.
	Container *isolation.ContainerOptions
	// Grace is how long after the time limit the supervisor waits for the
	// worker to report before it kills it; zero means 250ms.
	Grace time.Duration
	// Pool keeps prepared workers ahead of demand (for long-running
	// front-ends); nil spawns each call's worker when the call comes.
	Pool *PoolOptions
	// MaxStarts caps the workers being started at once for calls that
	// found no prepared worker (spawn, confinement, module load); further
	// calls wait their turn, first come first served. Zero means two per
	// CPU. A burst of hundreds of calls otherwise starts hundreds of workers
	// at once, and each start slows down with every other one in flight.
	// The pool's background refills are capped apart (PoolOptions.Spawners).
	MaxStarts int
	// Audit configures the audit log in Home/audit; nil records every
	// call, fsync'd per line (see AuditOptions).
	Audit *AuditOptions
	// OnCall receives each call's audit record once it is written, also
	// when auditing is off (metrics); nil means none.
	OnCall func(*audit.Record)
}

// Supervisor runs calls. It is safe for concurrent use.
type Supervisor struct {
	home, cacheDir, tmpDir string
	workerPath             string
	workerArgs             []string
	log                    *slog.Logger
	compileTimeout, grace  time.Duration

	process       isolation.Spawner
	containerOpts *isolation.ContainerOptions
	containerOnce sync.Once
	container     isolation.Spawner
	containerErr  error

	pool     *pool
	cleanups sync.WaitGroup
	digests  digestCache

	// closed is closed by Close: retired workers waiting for their
	// call's answer (retire) are torn down at once.
	closed    chan struct{}
	closeOnce sync.Once

	// entries are the cache entries verified for handing to workers;
	// entriesOff (tests and benchmarks only) leaves every entry for the
	// worker to check, as before issue 18.
	entries    entryCache
	entriesOff bool

	starts            chan struct{} // a slot per worker being started for a call
	starting, waiting atomic.Int32

	audit                         *audit.Log // nil when auditing is off
	onCall                        func(*audit.Record)
	inFlight                      atomic.Int64
	workersStarted, workersFailed atomic.Uint64
	// runOverRPC sends calls over go-plugin's RPC instead of their call
	// channel; set by tests and benchmarks only, to compare the two.
	runOverRPC bool
	// refillEarly starts the pool's refill before the call's audit line
	// is written and retires the call's worker at once, without waiting
	// for Call.Answered, as before issue 18; set by benchmarks only.
	refillEarly bool

	// socketDir holds go-plugin's socket directories of this supervisor's
	// workers (see socketDirs); empty means the system's temporary
	// directory, when the state directory's path is too long for them.
	socketDir string
}

// DefaultHome is $AGENTCTL_HOME, or ~/.agent-ctl.
func DefaultHome() (string, error) {
	if h := os.Getenv("AGENTCTL_HOME"); h != "" {
		return filepath.Abs(h)
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding home directory (set AGENTCTL_HOME): %w", err)
	}
	return filepath.Join(u, ".agent-ctl"), nil
}

// New returns a Supervisor, creating its state directories.
func New(o *Options) (*Supervisor, error) {
	if o == nil {
		o = &Options{}
	}
	s := &Supervisor{
		home: o.Home, workerPath: o.WorkerPath, workerArgs: o.WorkerArgs, log: o.Logger,
		compileTimeout: o.CompileTimeout, grace: o.Grace,
		process: isolation.NewProcess(),
		closed:  make(chan struct{}),
	}
	n := o.MaxStarts
	if n <= 0 {
		n = 2 * runtime.NumCPU()
	}
	s.starts = make(chan struct{}, n)
	var err error
	if s.home == "" {
		if s.home, err = DefaultHome(); err != nil {
			return nil, err
		}
	}
	if s.workerPath == "" {
		if s.workerPath, err = defaultWorker(); err != nil {
			return nil, err
		}
	}
	if s.workerArgs == nil {
		s.workerArgs = []string{protocol.WorkerArg}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	co := isolation.ContainerOptions{}
	if o.Container != nil {
		co = *o.Container
	}
	if co.Logger == nil {
		co.Logger = s.log
	}
	s.containerOpts = &co
	if s.compileTimeout == 0 {
		s.compileTimeout = 2 * time.Minute
	}
	if s.grace == 0 {
		s.grace = 250 * time.Millisecond
	}
	if s.home, err = filepath.Abs(s.home); err != nil {
		return nil, fmt.Errorf("resolving state directory: %w", err)
	}
	// Checked before anything in it is swept or written.
	if err := EnsureHome(s.home); err != nil {
		return nil, err
	}
	sweepCallDirs(filepath.Join(s.home, "tmp"))
	s.cacheDir = filepath.Join(s.home, "cache")
	sweepPromoteTemps(s.cacheDir)
	s.tmpDir = filepath.Join(s.home, "tmp")
	for _, d := range []string{s.cacheDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("securing state directory: %w", err)
		}
	}
	if err := s.openAudit(o); err != nil {
		return nil, err
	}
	if s.socketDir = socketDir(s.tmpDir); s.socketDir == "" {
		s.log.Warn("no short private directory for worker sockets: they go to the system's temporary directory and are not swept after a crash",
			"state_dir", s.home, "tmp_dir", os.TempDir())
	}
	if o.Pool != nil {
		s.pool = newPool(s, *o.Pool)
	}
	return s, nil
}

// Close kills the prepared workers of the pool, if there is one, and
// waits until every finished call's worker is gone. Calls in progress are
// not affected. A process that exits after its calls should call it.
func (s *Supervisor) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.pool != nil {
		s.pool.close()
	}
	s.cleanups.Wait()
	s.closeAudit()
	if s.socketDir != "" {
		// Only once empty: a call still in progress keeps its socket.
		_ = os.Remove(s.socketDir)
		if parent := filepath.Dir(s.socketDir); parent != s.tmpDir {
			_ = os.Remove(parent) // the private one in TMPDIR, once no supervisor uses it
		}
	}
}

// WorkerName is the file name of the dedicated worker executable.
const WorkerName = "agent-ctl-worker"

func defaultWorker() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the worker executable: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", fmt.Errorf("finding the worker executable: %w", err)
	}
	w := filepath.Join(filepath.Dir(self), WorkerName)
	if fi, err := os.Stat(w); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return w, nil
	}
	return self, nil
}

// Call is one invocation of a module.
type Call struct {
	// Module is the path of the .wasm file.
	Module string
	// Name is argv[0] and the module's name in messages; empty means the
	// file's base name.
	Name string
	// Args are the module's arguments after argv[0].
	Args []string
	// Policy grants and limits; the zero value grants nothing.
	Policy policies.Policy
	// Stdin feeds the module's stdin; nil is an empty stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the module's output as it is written; nil
	// discards it.
	Stdout, Stderr io.Writer
	// TimeoutCoversLoad makes the policy's Timeout bound the whole call:
	// waiting for a start, starting the worker and loading or compiling
	// the module as well as running it, as `timeout 2s wasmtime run`
	// would. It is what `agent-ctl run` asks for. False (installed tools,
	// compiled at install): loading has the supervisor's CompileTimeout,
	// and Timeout bounds the run alone.
	TimeoutCoversLoad bool
	// Digest, when set, is the hex sha256 the module file must have (an
	// installed tool's, as the store recorded it): a file that hashes
	// otherwise, changed on disk after install, is refused with an error
	// wrapping ErrModuleChanged before it is compiled or loaded from the
	// cache. The check costs a comparison: the digest is computed anyway,
	// and cached while the file is unchanged.
	Digest string
	// Caller, Frontend and Version are for the audit log: who asked (empty
	// means the OS user), through what ("run", "cli", "mcp-stdio",
	// "mcp-http") and the tool's version.
	Caller, Frontend, Version string
	// CallID is the front-end's own name for the call, for the audit log:
	// the fleet's call ID, by which a repeated request is told from a
	// second call. Empty means none.
	CallID string
	// Params are the tool's arguments by name as the audit log records
	// them, writeOnly ones redacted; nil records Args instead.
	Params map[string]any
	// Answered, when set, holds back the pool's replacement for the
	// worker this call used, and that worker's teardown, until it is
	// closed: a front-end closes it once its answer is written, so that
	// the new worker's start (tens of milliseconds of CPU) and the old
	// one's exit do not compete with the answer for the CPUs. Both wait
	// at most RefillHold for it. Nil starts the replacement as Invoke
	// returns, once the call's audit line is written, and the teardown at
	// once.
	Answered <-chan struct{}

	// prepareOnly stops after the module is loaded or compiled: Precompile.
	prepareOnly bool
	// replay marks the second run of a call whose worker crashed on code
	// from the cache (see crashedRunning).
	replay bool
}

// PrecompileDigest compiles a module that must hash to digest (see
// Call.Digest) into the cache, in a worker behind the walls iso names,
// without running it, so that its first call loads precompiled code
// instead of compiling (seconds for a Go module). A module already in the
// cache costs one worker start. The result's CacheHit says which it was.
func (s *Supervisor) PrecompileDigest(ctx context.Context, module, digest string, iso policies.Isolation) (*Result, error) {
	return s.Invoke(ctx, &Call{Module: module, Digest: digest, Policy: policies.Policy{Isolation: iso}, prepareOnly: true})
}

// Prewarm starts setting up the walls of iso in the background, so that a
// call that follows soon does not wait for all of it: for containers, the
// spawner (its seccomp program, its user namespace, the state sweep). The
// first call waits for whatever is not done; errors are reported there.
func (s *Supervisor) Prewarm(iso policies.Isolation) {
	if iso == policies.IsolationProcess {
		return
	}
	go func() { _, _ = s.spawner(iso) }()
}

// spawner picks the walls for a policy, never weaker than asked: the
// default is container isolation, and if this host cannot provide it the
// call fails with the reason and the opt-out rather than run with less.
func (s *Supervisor) spawner(iso policies.Isolation) (isolation.Spawner, error) {
	if iso == policies.IsolationProcess {
		return s.process, nil
	}
	s.containerOnce.Do(func() {
		s.container, s.containerErr = isolation.NewContainer(s.containerOpts)
	})
	if s.containerErr != nil {
		return nil, fmt.Errorf("%w (pass --isolation process to run with the WASM sandbox as the only wall)", s.containerErr)
	}
	return s.container, nil
}

// CheckModule reads and checks a module file as Invoke does before any
// worker is spawned (see package wasmfile) and returns the hex sha256 of
// its bytes.
func CheckModule(path string) (digest string, err error) { return wasmfile.Check(path) }

// RefillHold bounds how long the pool's replacement for a call's worker,
// and the teardown of that worker, wait for Call.Answered: a front-end
// that never closes it delays its pool by this much, no more.
const RefillHold = time.Second

// invoke runs one call in a fresh worker (Invoke records it). It returns
// an error for what keeps the module from starting (not found, invalid, bad
// policy, no isolation, a worker fault); how the module itself ended,
// limits hit included, is in the Result. refill, when not nil, starts the
// pool's replacement for the call's worker: the caller runs it once the
// call's audit line is written (the replacement's start must not delay
// the answer).
func (s *Supervisor) invoke(ctx context.Context, c *Call) (_ *Result, refill func(), _ error) {
	t0 := time.Now()
	name := c.Name
	if name == "" {
		name = filepath.Base(c.Module)
	}
	// The caller's Call is read, never written: one Call may serve many
	// calls, from many goroutines.
	pol := c.Policy
	pol.Protected = append(slices.Clip(pol.Protected), s.home)
	pol, err := pol.Validate()
	if err != nil {
		return nil, nil, err
	}
	// The granted directories stay open until the call is done: what was
	// checked is what its worker, and the pool's workers like it, get.
	defer pol.Close()
	// WASI passes arguments as UTF-8, and wasmtime would drop one that is
	// not, shifting the rest: refuse it instead.
	for i, a := range c.Args {
		if !utf8.ValidString(a) || strings.IndexByte(a, 0) >= 0 {
			return nil, nil, fmt.Errorf("%w: argument %d is not valid UTF-8 text (WASI passes arguments as UTF-8, without NUL bytes)", policies.ErrInvalid, i+1)
		}
	}
	for _, e := range pol.Env {
		if !utf8.ValidString(e.Value) {
			return nil, nil, fmt.Errorf("%w: environment variable %s is not valid UTF-8 text", policies.ErrInvalid, e.Key)
		}
	}
	args := &protocol.RunArgs{Args: append([]string{name}, c.Args...)}
	for _, e := range pol.Env {
		args.Env = append(args.Env, e.Key+"="+e.Value)
	}
	if err := protocol.CheckRunArgs(args); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", policies.ErrInvalid, err)
	}
	sp, err := s.spawner(pol.Isolation)
	if err != nil {
		return nil, nil, err
	}
	moduleFile, digest, err := s.digests.open(c.Module)
	if err != nil {
		return nil, nil, err
	}
	defer moduleFile.Close() // after the pool's refill has its own copy
	if c.Digest != "" && digest != c.Digest {
		return nil, nil, fmt.Errorf("%w: %s hashes to sha256 %s, not the %s installed: it was changed on disk; install the tool again, or remove it", ErrModuleChanged, c.Module, short(digest), short(c.Digest))
	}
	modulePath, err := filepath.Abs(c.Module)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrModuleInvalid, c.Module, err)
	}
	t := &template{
		sp:   sp,
		name: name,
		req: protocol.Request{
			ModulePath: modulePath,
			Digest:     digest,
			CacheFile:  filepath.Join(s.cacheDir, cache.Key(digest)),
			Memory:     pol.Memory,
		},
		memoryLimit: pol.Memory + workerOverhead,
	}
	for _, d := range pol.Dirs {
		t.req.Dirs = append(t.req.Dirs, protocol.Dir{Host: d.Host, Guest: d.Guest, Writable: d.Writable})
	}
	t.dirs, t.module = pol.Dirs, moduleFile
	t.key = t.fingerprint()

	res := &Result{Module: name, Isolation: sp.Name(), Digest: digest}
	pooled := s.pool != nil && !c.prepareOnly && !c.replay
	if pooled {
		// Before the call's descriptors close: the replacement holds
		// copies of its own, and starts when refill is run.
		defer func() { refill = s.pool.refill(t, c.Answered) }()
	}
	octx := ctx
	if c.TimeoutCoversLoad && !c.prepareOnly {
		var cancel context.CancelFunc
		octx, cancel = context.WithDeadlineCause(ctx, t0.Add(pol.Timeout), errLoadTimeout)
		defer cancel()
	}
	w, err := s.obtain(octx, t, pooled, res)
	if errors.Is(err, errNoWorker) { // cancelled while waiting for its turn or starting
		res.Outcome = Cancelled
		if ctx.Err() == nil && errors.Is(context.Cause(octx), errLoadTimeout) {
			res.Outcome, res.Limit = TimedOut, pol.Timeout.String()
		}
		res.Timings.Total = time.Since(t0)
		return res, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	// The worker is killed and its call directory removed after Invoke
	// returns: tearing down a container takes milliseconds that the caller
	// need not wait for. Close waits for every such teardown.
	answered := c.Answered
	if s.refillEarly {
		answered = nil
	}
	defer s.retire(w, answered)
	res.WorkerPid, res.CacheHit = w.conn.Pid(), w.cacheHit
	if c.prepareOnly {
		if w.cacheErr != nil {
			return nil, nil, fmt.Errorf("caching the compiled code of %s: %w", name, w.cacheErr)
		}
		res.Outcome = Exited
		res.Timings.Total = time.Since(t0)
		return res, nil, nil
	}

	r := &run{s: s, call: c, pol: pol, res: res, conn: w.conn, werr: w.werr, stopCh: make(chan struct{}),
		timeout: pol.Timeout}
	if c.TimeoutCoversLoad {
		// What the start and the load left of the call's time, at
		// least a millisecond: the worker's own deadline says when.
		r.timeout = max(pol.Timeout-time.Since(t0), time.Millisecond)
	}
	r.remaining.Store(pol.MaxOutput)
	r.attach(w.takeStdio())
	args.Timeout = r.timeout
	res, err = r.serve(ctx, args)
	if err != nil {
		res, err := s.crashedRunning(ctx, c, t, w, r, err)
		return res, nil, err
	}
	res.Timings.Total = time.Since(t0)
	s.log.Debug("call finished", "module", name, "outcome", res.Outcome.String(), "exit_code", res.ExitCode,
		"worker_pid", res.WorkerPid, "pooled", res.Pooled, "cache_hit", res.CacheHit,
		"wait_us", res.Timings.Wait.Microseconds(), "spawn_us", res.Timings.Spawn.Microseconds(), "load_us", res.Timings.Load.Microseconds(),
		"run_us", res.Timings.Run.Microseconds(), "total_us", res.Timings.Total.Microseconds())
	return res, nil, nil
}

// short is the start of a digest, as messages show it.
func short(digest string) string { return digest[:min(12, len(digest))] }
