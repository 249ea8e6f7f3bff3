// Package supervisor is the one dispatch entry point of agent-ctl: the CLI,
// and later the MCP and fleet front-ends, all call Invoke. Each call gets a
// fresh worker process behind the walls its policy asks for; the supervisor
// streams the module's stdio through pipes, enforces the output cap and a
// time-limit backstop from outside the worker, and reports how the call
// ended.
package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
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
	"github.com/agent-ctl/agent-ctl/supervisor/hostnet"
	"github.com/agent-ctl/agent-ctl/worker"
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

	starts            chan struct{} // a slot per worker being started for a call
	starting, waiting atomic.Int32

	audit                         *audit.Log // nil when auditing is off
	onCall                        func(*audit.Record)
	inFlight                      atomic.Int64
	workersStarted, workersFailed atomic.Uint64

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
	isolation.CloseInheritedFDs()
	sweepCallDirs(filepath.Join(s.home, "tmp"))
	s.cacheDir = filepath.Join(s.home, "cache")
	sweepPromoteTemps(s.cacheDir)
	s.tmpDir = filepath.Join(s.home, "tmp")
	for _, d := range []string{s.home, s.cacheDir, s.tmpDir} {
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

// socketDirs numbers the supervisors of this process, each of which has
// its own directory for go-plugin's socket directories (Close removes it).
var socketDirs atomic.Int64

// socketDir makes the directory in which go-plugin makes this supervisor's
// workers' socket directories, named as the call directories are
// (call-PID-…) so that sweepCallDirs removes those of a supervisor that was
// killed: go-plugin removes a socket directory when its worker is killed,
// which a SIGKILL of the supervisor never does. It is under the state
// directory's tmp when a socket's path fits there, else in a private
// directory of this user's in the system's temporary directory (swept here
// too); "" when neither works.
func socketDir(tmp string) string {
	name := fmt.Sprintf("call-%d-s%d", os.Getpid(), socketDirs.Add(1))
	if d := filepath.Join(tmp, name); len(d)+len(socketSuffix) <= maxSocketPath && os.MkdirAll(d, 0o700) == nil {
		return d
	}
	short := filepath.Join(os.TempDir(), fmt.Sprintf("agent-ctl-%d", os.Getuid()))
	d := filepath.Join(short, name)
	if len(d)+len(socketSuffix) > maxSocketPath {
		return ""
	}
	// Twice: another supervisor's Close may remove short, empty, between
	// the check and the Mkdir. Checked again once d is in it: short is then
	// not empty, and only its owner could rename it in a sticky /tmp.
	for range 2 {
		if !privateDir(short) {
			return ""
		}
		sweepCallDirs(short)
		if os.Mkdir(d, 0o700) == nil {
			if privateDir(short) {
				return d
			}
			return ""
		}
	}
	return ""
}

// A unix socket's path holds at most 107 bytes (sun_path is 108 with its
// NUL), and go-plugin adds at most socketSuffix to socketBase: its
// directory and socket file, each a prefix and a random uint32.
const (
	maxSocketPath = 107
	socketSuffix  = "/plugin-dir4294967295/plugin4294967295"
)

// Close kills the prepared workers of the pool, if there is one, and
// waits until every finished call's worker is gone. Calls in progress are
// not affected. A process that exits after its calls should call it.
func (s *Supervisor) Close() {
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

// retire kills a worker whose call is over and removes its files, in the
// background.
func (s *Supervisor) retire(w *warm) {
	s.cleanups.Add(1)
	go func() {
		defer s.cleanups.Done()
		w.close()
	}()
}

// obtain returns a worker for t: a prepared one from the pool when there is
// one (pooled), else one started in its turn (Options.MaxStarts). It
// returns nil and no error when ctx ends first.
func (s *Supervisor) obtain(ctx context.Context, t *template, pooled bool, res *Result) (*warm, error) {
	take := func() *warm {
		if !pooled {
			return nil
		}
		w := s.pool.take(t.key, t.name)
		res.Pooled = w != nil
		return w
	}
	if w := take(); w != nil {
		return w, nil
	}
	tw := time.Now()
	release, ok := s.startSlot(ctx)
	res.Timings.Wait = time.Since(tw)
	if !ok {
		return nil, nil
	}
	defer release()
	// The pool may have filed a worker while this call waited its turn.
	if w := take(); w != nil {
		return w, nil
	}
	w, err := s.prepare(ctx, t)
	if errors.Is(err, errEvicted) && ctx.Err() == nil {
		// The worker crashed on code from the cache, now evicted: once
		// more, compiling.
		s.log.Warn("starting the call again: its worker crashed on code from the cache", "module", t.name)
		w, err = s.prepare(ctx, t)
	}
	if err != nil {
		if ctx.Err() != nil { // cancelled while the worker was starting
			return nil, nil
		}
		return nil, err
	}
	res.Timings.Spawn, res.Timings.Load = w.spawn, w.load
	return w, nil
}

// startSlot waits for a turn to start a worker (see Options.MaxStarts) and
// returns its release; false when ctx ended first.
func (s *Supervisor) startSlot(ctx context.Context) (release func(), ok bool) {
	select {
	case s.starts <- struct{}{}:
	default:
		s.waiting.Add(1)
		select {
		case s.starts <- struct{}{}:
			s.waiting.Add(-1)
		case <-ctx.Done():
			s.waiting.Add(-1)
			return nil, false
		}
	}
	s.starting.Add(1)
	return func() {
		s.starting.Add(-1)
		<-s.starts
	}, true
}

// Starts reports how many workers are being started for calls, and how
// many calls wait for their turn to start one (see Options.MaxStarts).
func (s *Supervisor) Starts() (starting, waiting int) {
	return int(s.starting.Load()), int(s.waiting.Load())
}

// PoolStats reports how many prepared workers wait, and how many are
// being prepared; zero without a pool.
func (s *Supervisor) PoolStats() (idle, pending int) {
	if s.pool == nil {
		return 0, 0
	}
	return s.pool.stats()
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

// Home is the state directory in use.
func (s *Supervisor) Home() string { return s.home }

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
	// Caller, Frontend and Version are for the audit log: who asked (empty
	// means the OS user), through what ("run", "cli", "mcp-stdio",
	// "mcp-http") and the tool's version.
	Caller, Frontend, Version string
	// Params are the tool's arguments by name as the audit log records
	// them, writeOnly ones redacted; nil records Args instead.
	Params map[string]any

	// prepareOnly stops after the module is loaded or compiled: Precompile.
	prepareOnly bool
	// replay marks the second run of a call whose worker crashed on code
	// from the cache (see crashedRunning).
	replay bool
}

// Precompile compiles a module into the cache, in a worker behind the
// walls iso names, without running it, so that its first call loads
// precompiled code instead of compiling (seconds for a Go module). A module
// already in the cache costs one worker start. The result's CacheHit says
// which it was.
func (s *Supervisor) Precompile(ctx context.Context, module string, iso policies.Isolation) (*Result, error) {
	return s.Invoke(ctx, &Call{Module: module, Policy: policies.Policy{Isolation: iso}, prepareOnly: true})
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

// invoke runs one call in a fresh worker (Invoke records it). It returns
// an error for what keeps the module from starting (not found, invalid, bad
// policy, no isolation, a worker fault); how the module itself ended,
// limits hit included, is in the Result.
func (s *Supervisor) invoke(ctx context.Context, c *Call) (*Result, error) {
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
		return nil, err
	}
	// The granted directories stay open until the call is done: what was
	// checked is what its worker, and the pool's workers like it, get.
	defer pol.Close()
	// WASI passes arguments as UTF-8, and wasmtime would drop one that is
	// not, shifting the rest: refuse it instead.
	for i, a := range c.Args {
		if !utf8.ValidString(a) || strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("%w: argument %d is not valid UTF-8 text (WASI passes arguments as UTF-8, without NUL bytes)", policies.ErrInvalid, i+1)
		}
	}
	for _, e := range pol.Env {
		if !utf8.ValidString(e.Value) {
			return nil, fmt.Errorf("%w: environment variable %s is not valid UTF-8 text", policies.ErrInvalid, e.Key)
		}
	}
	sp, err := s.spawner(pol.Isolation)
	if err != nil {
		return nil, err
	}
	moduleFile, digest, err := s.digests.open(c.Module)
	if err != nil {
		return nil, err
	}
	defer moduleFile.Close() // after the pool's refill has its own copy
	modulePath, err := filepath.Abs(c.Module)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrModuleInvalid, c.Module, err)
	}
	t := &template{
		sp:   sp,
		name: name,
		req: protocol.Request{
			ModulePath: modulePath,
			Digest:     digest,
			CacheFile:  filepath.Join(s.cacheDir, worker.CacheKey(digest)),
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
		defer s.pool.refill(t)
	}
	octx := ctx
	if c.TimeoutCoversLoad && !c.prepareOnly {
		var cancel context.CancelFunc
		octx, cancel = context.WithDeadlineCause(ctx, t0.Add(pol.Timeout), errLoadTimeout)
		defer cancel()
	}
	w, err := s.obtain(octx, t, pooled, res)
	if err != nil {
		return nil, err
	}
	if w == nil { // cancelled while waiting for its turn or starting
		res.Outcome = Cancelled
		if ctx.Err() == nil && errors.Is(context.Cause(octx), errLoadTimeout) {
			res.Outcome, res.Limit = TimedOut, pol.Timeout.String()
		}
		res.Timings.Total = time.Since(t0)
		return res, nil
	}
	// The worker is killed and its call directory removed after Invoke
	// returns: tearing down a container takes milliseconds that the caller
	// need not wait for. Close waits for every such teardown.
	defer s.retire(w)
	res.WorkerPid, res.CacheHit = w.conn.Pid(), w.cacheHit
	if c.prepareOnly {
		if w.cacheErr != nil {
			return nil, fmt.Errorf("caching the compiled code of %s: %w", name, w.cacheErr)
		}
		res.Outcome = Exited
		res.Timings.Total = time.Since(t0)
		return res, nil
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
	args := &protocol.RunArgs{Args: append([]string{name}, c.Args...), Timeout: r.timeout}
	for _, e := range pol.Env {
		args.Env = append(args.Env, e.Key+"="+e.Value)
	}
	res, err = r.serve(ctx, args)
	if err != nil {
		return s.crashedRunning(ctx, c, t, w, r, err)
	}
	res.Timings.Total = time.Since(t0)
	s.log.Debug("call finished", "module", name, "outcome", res.Outcome.String(), "exit_code", res.ExitCode,
		"worker_pid", res.WorkerPid, "pooled", res.Pooled, "cache_hit", res.CacheHit,
		"wait_us", res.Timings.Wait.Microseconds(), "spawn_us", res.Timings.Spawn.Microseconds(), "load_us", res.Timings.Load.Microseconds(),
		"run_us", res.Timings.Run.Microseconds(), "total_us", res.Timings.Total.Microseconds())
	return res, nil
}

// template is what a worker is fixed to when it is spawned: the module,
// the walls, the granted directories and the memory limit. Workers spawned
// from equal templates are interchangeable (a warm pool keys them by it);
// everything else about a call arrives with protocol.RunArgs.
type template struct {
	sp          isolation.Spawner
	name        string
	req         protocol.Request // CompileOut is set per worker
	memoryLimit int64
	key         string
	// dirs are the granted directories as Validate opened them, in the
	// order of req.Dirs: workers are given these, not the names again.
	// The call that made the template owns them (see withFiles).
	dirs []policies.Dir
	// module is the module file as the supervisor read and checked it,
	// owned likewise.
	module *os.File
}

// withFiles returns a copy of t that holds its own duplicates of the
// module's and the granted directories' descriptors, for a worker prepared
// after the call that made t has closed its own (the pool's), and their
// release.
func (t *template) withFiles() (*template, func(), error) {
	c := *t
	c.dirs = slices.Clone(t.dirs)
	c.module = nil
	release := func() {
		if c.module != nil {
			c.module.Close()
		}
		for _, d := range c.dirs {
			if d.File != nil {
				d.File.Close()
			}
		}
	}
	for i, d := range c.dirs {
		if d.File == nil {
			continue
		}
		f, err := dupFile(d.File)
		if err != nil {
			c.dirs = c.dirs[:i]
			release()
			return nil, nil, fmt.Errorf("%w: holding directory %s: %w", ErrWorker, d.Host, err)
		}
		c.dirs[i].File = f
	}
	if t.module != nil {
		f, err := dupFile(t.module)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("%w: holding module %s: %w", ErrWorker, t.req.ModulePath, err)
		}
		c.module = f
	}
	return &c, release, nil
}

func (t *template) fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d", t.sp.Name(), t.req.ModulePath, t.req.Digest, t.req.Memory, t.memoryLimit)
	for i, d := range t.req.Dirs {
		// By identity too: a directory replaced under the same name
		// selects other workers.
		fmt.Fprintf(h, "\x00%s\x00%s\x00%v\x00%s", d.Host, d.Guest, d.Writable, t.dirs[i].ID)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// warm is a spawned worker that has loaded its module and waits for the
// one call it will serve.
type warm struct {
	key      string
	conn     *protocol.Conn
	callDir  string
	werr     *tailBuffer
	cacheHit bool
	spawn    time.Duration
	load     time.Duration
	born     time.Time

	// cacheFile is the cache entry the worker was given, if there was one;
	// cacheErr says why freshly compiled code was not cached.
	cacheFile os.FileInfo
	cacheErr  error

	mu    sync.Mutex
	stdio *stdioPipes
}

// takeStdio hands the pipes over to the call.
func (w *warm) takeStdio() *stdioPipes {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.stdio
	w.stdio = nil
	return p
}

// close kills the worker and removes what it left.
func (w *warm) close() {
	if w.conn != nil {
		w.conn.Kill()
	}
	if p := w.takeStdio(); p != nil {
		p.close()
	}
	_ = os.RemoveAll(w.callDir)
}

// alive reports whether the worker process is still there. It asks the
// kernel, not the worker: a ping over RPC cost 0.4 ms of every pooled call.
func (w *warm) alive() bool {
	select {
	case <-w.conn.Exited():
		return false
	default:
		return !exited(w.conn.Pid())
	}
}

// prepare spawns a worker for t and has it load (or compile) the module,
// within the compile timeout. Cancelling ctx kills it.
func (s *Supervisor) prepare(ctx context.Context, t *template) (*warm, error) {
	// A private directory per worker for freshly compiled code: a worker
	// sees only its own files, never another's.
	callDir, err := os.MkdirTemp(s.tmpDir, fmt.Sprintf("call-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("%w: creating call directory: %w", ErrWorker, err)
	}
	w := &warm{key: t.key, callDir: callDir, werr: &tailBuffer{log: s.log}, born: time.Now()}
	req := t.req
	req.CompileOut = filepath.Join(callDir, compiledName)
	spec := &isolation.Spec{
		// What the worker may see if its walls are a container: at the same
		// paths as on the host, read-only but for what the worker writes.
		Mounts: []isolation.Mount{
			{Source: req.ModulePath, File: t.module},
			{Source: callDir, Writable: true},
		},
		MemoryLimit: t.memoryLimit,
	}
	if fi, err := os.Stat(req.CacheFile); err == nil {
		spec.Mounts = append(spec.Mounts, isolation.Mount{Source: req.CacheFile})
		w.cacheFile = fi
	}
	// Under process isolation the worker sees the host: it is handed the
	// module file and the directories themselves, after its stdio
	// (descriptors 3 to 5), and opens them through /proc/self/fd. In a
	// container they are mounted from the same descriptors; a container's
	// worker never holds a descriptor of the host's tree.
	byFD := t.sp.Name() == string(policies.IsolationProcess) && runtime.GOOS != "windows"
	if byFD && t.module != nil {
		spec.ExtraFiles = append(spec.ExtraFiles, t.module)
		req.ModuleFD = protocol.FDStderr + len(spec.ExtraFiles)
	}
	req.Dirs = slices.Clone(req.Dirs)
	for i, d := range req.Dirs {
		f := t.dirs[i].File
		spec.Mounts = append(spec.Mounts, isolation.Mount{Source: d.Host, Writable: d.Writable, File: f})
		if byFD && f != nil {
			spec.ExtraFiles = append(spec.ExtraFiles, f)
			req.Dirs[i].FD = protocol.FDStderr + len(spec.ExtraFiles)
		}
	}
	if err := s.spawn(ctx, t, spec, w); err != nil {
		w.close()
		return nil, err
	}

	// Load or compile, outside the call's time limit but within the
	// compile timeout, and killed at once if ctx ends.
	var why atomic.Value
	done := make(chan struct{})
	go func() {
		timer := time.NewTimer(s.compileTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			why.Store("timeout")
			w.conn.Kill()
		case <-ctx.Done():
			why.Store("cancel")
			w.conn.Kill()
		}
	}()
	prep, err := w.conn.Prepare(&req)
	close(done)
	if err != nil {
		w.close()
		switch why.Load() {
		case "cancel":
			return nil, fmt.Errorf("%w: %w", ErrWorker, ctx.Err())
		case "timeout":
			return nil, fmt.Errorf("%w: loading the module took longer than %s%s", ErrModuleInvalid, s.compileTimeout, w.werr.suffix())
		}
		settle(w.conn)
		return nil, s.crashedLoading(t, w, prepareErr(t.name, t.req.Memory, err, w.werr))
	}
	w.cacheHit, w.load = prep.CacheHit, prep.LoadTime
	if prep.CacheProblem != "" {
		s.log.Warn("cache entry not used", "module", t.name, "problem", prep.CacheProblem)
	}
	if prep.Compiled {
		w.cacheErr = s.promote(t, callDir, prep.CacheWriteProblem)
	}
	return w, nil
}

// spawn creates the stdio pipes and starts the worker.
func (s *Supervisor) spawn(ctx context.Context, t *template, spec *isolation.Spec, w *warm) error {
	pipes, err := newStdio()
	if err != nil {
		return fmt.Errorf("%w: creating pipes: %w", ErrWorker, err)
	}
	start := time.Now()
	conn, err := protocol.Dial(ctx, &protocol.DialOptions{
		Path: s.workerPath,
		Args: s.workerArgs,
		Start: func(cmd *exec.Cmd) (protocol.Process, error) {
			full := *spec
			full.Path, full.Args = cmd.Path, cmd.Args[1:]
			full.Env = append(cmd.Env, pipes.workerEnv()...)
			full.ExtraFiles = append(pipes.workerFiles(), spec.ExtraFiles...)
			return t.sp.Start(&full)
		},
		Stderr:    w.werr,
		SocketDir: s.socketDir,
	})
	pipes.spawned()
	if err == nil {
		if err = pipes.connect(conn.Pid(), conn.Exited()); err != nil {
			conn.Kill()
		}
	}
	s.workerStarted(err)
	if err != nil {
		pipes.close()
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrWorker, ctx.Err())
		}
		return fmt.Errorf("%w: %w%s", ErrWorker, err, w.werr.suffix())
	}
	w.spawn = time.Since(start)
	w.conn = conn
	w.stdio = pipes
	s.log.Debug("worker started", "module", t.name, "worker_pid", conn.Pid(),
		"isolation", t.sp.Name(), "spawn_us", w.spawn.Microseconds())
	return nil
}

// prepareErr turns a worker's Prepare error into one of the package's
// errors.
func prepareErr(module string, memory int64, err error, werr *tailBuffer) error {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		switch perr.Kind {
		case protocol.KindModuleInvalid:
			return fmt.Errorf("%w: %s: %s", ErrModuleInvalid, module, perr.Msg)
		case protocol.KindMemoryLimit:
			return fmt.Errorf("%w: %s: %s (memory limit %s; raise it with --memory)", ErrModuleInvalid, module, perr.Msg,
				policies.FormatSize(memory))
		}
	}
	return fmt.Errorf("%w: %s: %w%s", ErrWorker, module, err, werr.suffix())
}

// run is the state of one call in its worker.
type run struct {
	s    *Supervisor
	call *Call
	pol  policies.Policy
	res  *Result
	// timeout bounds the run: the policy's Timeout, or what is left of
	// it (Call.TimeoutCoversLoad). Results report the policy's.
	timeout time.Duration

	conn      *protocol.Conn
	remaining atomic.Int64 // output bytes still allowed
	copies    sync.WaitGroup
	werr      *tailBuffer // the worker's own stderr, for diagnostics

	overflow atomic.Bool // the module wrote past the output cap

	stdinRead atomic.Int64  // bytes read from the call's stdin
	stdinDone chan struct{} // closed when the stdin copy ends

	stopOnce sync.Once
	stopped  Outcome // why the supervisor killed the worker; set once
	stopCh   chan struct{}
}

// stop kills the worker for reason; the first reason wins.
func (r *run) stop(reason Outcome) {
	r.stopOnce.Do(func() {
		r.stopped = reason
		close(r.stopCh)
		if r.conn != nil {
			r.conn.Kill()
		}
	})
}

// finish marks the call as ended normally without killing the worker now.
func (r *run) finish() {
	r.stopOnce.Do(func() {
		r.stopped = Exited
		close(r.stopCh)
	})
}

func (r *run) wasStopped() (Outcome, bool) {
	select {
	case <-r.stopCh:
		return r.stopped, true
	default:
		return 0, false
	}
}

// attach connects the call's stdio to the worker's pipes.
func (r *run) attach(p *stdioPipes) {
	stdin, stdout, stderr := p.stdin(), p.stdout(), p.stderr()
	r.stdinDone = make(chan struct{})
	if r.call.Stdin == nil {
		stdin.Close()
		close(r.stdinDone)
	} else {
		// Not waited for: a reader such as a terminal may block until the
		// user types. The copy ends on the next write after the worker is
		// gone. What it read decides whether a crashed call may run again.
		go func() {
			_, _ = io.Copy(stdin, countingReader{r.call.Stdin, &r.stdinRead})
			stdin.Close()
			close(r.stdinDone)
		}()
	}
	r.copies.Add(2)
	go r.forward(stdout, r.call.Stdout)
	go r.forward(stderr, r.call.Stderr)
}

// forward copies one of the module's output pipes to w, counting every byte
// against the shared output cap. Past the cap it writes what was still
// allowed and stops the worker.
func (r *run) forward(src io.ReadCloser, w io.Writer) {
	defer r.copies.Done()
	defer src.Close()
	if w == nil {
		w = io.Discard
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			left := r.remaining.Add(-int64(n))
			allowed := n
			if left < 0 {
				allowed = max(0, n+int(left))
			}
			if allowed > 0 {
				if _, werr := w.Write(buf[:allowed]); werr != nil {
					r.stop(Cancelled)
					return
				}
			}
			if left < 0 {
				r.overflow.Store(true)
				r.stop(OutputLimit)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serve runs the module in its prepared worker, watching the context, the
// time limit and the output cap from outside the worker.
func (r *run) serve(ctx context.Context, args *protocol.RunArgs) (*Result, error) {
	res := r.res
	defer func() {
		r.stop(Exited) // no-op when already stopped: the worker serves one call
		r.copies.Wait()
		res.Output = r.pol.MaxOutput - r.remaining.Load()
		if res.Output > r.pol.MaxOutput {
			res.Output = r.pol.MaxOutput
		}
	}()
	done := make(chan struct{})
	defer close(done)
	phase := make(chan time.Duration, 1)
	go r.watch(ctx, phase, done)
	phase <- r.timeout + r.s.grace

	if len(r.pol.Net) > 0 {
		gate := hostnet.New(r.pol.Net, &hostnet.Options{
			Deadline: time.Now().Add(r.timeout),
			Logger:   r.s.log.With("module", res.Module),
		})
		defer gate.Shutdown()
		args.NetID = r.conn.ServeNetwork(gate)
	}
	wres, err := r.conn.Run(args)
	if o, ok := r.wasStopped(); ok && o != Exited {
		return r.stoppedResult(o), nil
	}
	if err != nil {
		return nil, r.classifyErr(err)
	}
	res.Timings.Instantiate, res.Timings.Run = wres.InstantiateTime, wres.RunTime
	res.ExitCode = int(wres.ExitCode)
	res.Trap, res.Message, res.Frames = wres.Trap, wres.Message, wres.Frames
	switch wres.Outcome {
	case protocol.Exited:
		res.Outcome = Exited
	case protocol.Trapped:
		res.Outcome = Trapped
	case protocol.TimedOut:
		res.Outcome, res.Limit = TimedOut, r.pol.Timeout.String()
	case protocol.MemoryLimit:
		res.Outcome, res.Limit = MemoryLimit, policies.FormatSize(r.pol.Memory)
	}
	// The worker closed the module's stdio when Run ended: the forwarders
	// drain what is left in the pipes and stop at EOF. Output that pushes
	// the count past the cap on the way is reported as such.
	r.copies.Wait()
	if r.overflow.Load() { // the forwarder has stopped the worker
		return r.stoppedResult(OutputLimit), nil
	}
	// Done: the worker is killed by Invoke's retire, off the call's path.
	r.finish()
	return res, nil
}

// watch kills the worker when ctx ends or the current phase overruns.
func (r *run) watch(ctx context.Context, phase <-chan time.Duration, done <-chan struct{}) {
	var timer *time.Timer
	var expired <-chan time.Time
	for {
		select {
		case d := <-phase:
			if timer != nil {
				timer.Stop()
			}
			timer = time.NewTimer(d)
			expired = timer.C
		case <-expired:
			r.stop(TimedOut)
			return
		case <-ctx.Done():
			r.stop(Cancelled)
			return
		case <-done:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-r.stopCh:
			return
		}
	}
}

func (r *run) stoppedResult(o Outcome) *Result {
	res := r.res
	res.Outcome = o
	res.Trap, res.Message, res.Frames = "", "", nil
	switch o {
	case TimedOut:
		res.Limit = r.pol.Timeout.String()
	case OutputLimit:
		res.Limit = policies.FormatSize(r.pol.MaxOutput)
	}
	return res
}

// classifyErr turns a worker's Run error into one of the package's errors.
func (r *run) classifyErr(err error) error {
	r.stop(Exited)
	r.copies.Wait()
	settle(r.conn)
	return prepareErr(r.res.Module, r.pol.Memory, err, r.werr)
}

// sweepCallDirs removes the call directories of supervisors that died
// without cleaning up (SIGKILL): each is named call-PID-…, and a PID that no
// longer exists owns nothing.
func sweepCallDirs(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "call-*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "call-%d-", &pid); err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if !processExists(pid) {
			_ = os.RemoveAll(d)
		}
	}
}
