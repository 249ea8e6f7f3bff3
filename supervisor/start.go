package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/worker/cache"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// retire kills a worker whose call is over and removes its files, in the
// background, once answered is closed (nil: at once): the worker's
// teardown (its exit, its namespaces, its call directory) takes CPU that
// the call's answer needs. It waits at most RefillHold, or until Close.
// Until then the worker, its call served, waits idle behind its walls.
func (s *Supervisor) retire(w *warm, answered <-chan struct{}) {
	s.cleanups.Add(1)
	go func() {
		defer s.cleanups.Done()
		if answered != nil {
			awaitAnswer(answered, s.closed)
		}
		w.close()
	}()
}

// awaitAnswer waits until answered or stop is closed, or RefillHold has
// passed.
func awaitAnswer(answered, stop <-chan struct{}) {
	hold := time.NewTimer(RefillHold)
	defer hold.Stop()
	select {
	case <-answered:
	case <-stop:
	case <-hold.C:
	}
}

// errNoWorker is what obtain returns when ctx ended before the call had a
// worker: the call was cancelled (or ran out of time, Call.TimeoutCoversLoad),
// which Invoke reports as the call's outcome, not as an error.
var errNoWorker = errors.New("the call ended before it had a worker")

// obtain returns a worker for t: a prepared one from the pool when there is
// one (pooled), else one started in its turn (Options.MaxStarts). It
// returns errNoWorker when ctx ends first.
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
		return nil, errNoWorker
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
			return nil, fmt.Errorf("%w: %w", errNoWorker, err)
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
// kernel, not the worker: a ping over RPC would be a round trip to another
// process on every pooled call (docs/performance.md: where the time goes).
func (w *warm) alive() bool {
	select {
	case <-w.conn.Exited():
		return false
	default:
		return !exited(w.conn.Pid())
	}
}

// errCompileTimeout is the cause of prepare's context when loading or
// compiling the module ran past Options.CompileTimeout.
var errCompileTimeout = errors.New("loading the module took too long")

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
	// Under process isolation the worker sees the host: it is handed the
	// module file and the directories themselves, after its stdio
	// (descriptors 3 to 5) and its call channel (6), and opens them
	// through /proc/self/fd. In a
	// container they are mounted from the same descriptors; a container's
	// worker never holds a descriptor of the host's tree.
	byFD := t.sp.Name() == string(policies.IsolationProcess) && runtime.GOOS != "windows"
	if byFD && t.module != nil {
		spec.ExtraFiles = append(spec.ExtraFiles, t.module)
		req.ModuleFD = protocol.FDCall + len(spec.ExtraFiles)
	}
	// A cache entry this supervisor has verified (once per file identity)
	// is mapped by the worker without hashing it again: under process
	// isolation the worker is handed the descriptor that was checked; in
	// a container that descriptor is mounted, read-only and the one
	// mount a worker may map executable (docs/why.md), and the worker
	// maps it if the file it opens there has the identity that was
	// checked. Any other entry is left for the worker to check, as it
	// always was.
	if entry, err := s.openEntry(req.CacheFile); err == nil {
		defer entry.Close() // the worker has its own copy, or its mount, by then
		fi, err := entry.Stat()
		if err == nil {
			w.cacheFile = fi
		}
		if byFD {
			spec.ExtraFiles = append(spec.ExtraFiles, entry)
			req.CacheFD = protocol.FDCall + len(spec.ExtraFiles)
			req.CacheVerified = true
		} else if err == nil {
			req.CacheIdentity = cache.Identity(fi)
			req.CacheVerified = true
			spec.Mounts = append(spec.Mounts, isolation.Mount{Source: req.CacheFile, File: entry, Exec: true})
		}
	} else if fi, err := os.Stat(req.CacheFile); err == nil {
		spec.Mounts = append(spec.Mounts, isolation.Mount{Source: req.CacheFile})
		w.cacheFile = fi
	}
	req.Dirs = slices.Clone(req.Dirs)
	for i, d := range req.Dirs {
		f := t.dirs[i].File
		spec.Mounts = append(spec.Mounts, isolation.Mount{Source: d.Host, Writable: d.Writable, File: f})
		if byFD && f != nil {
			spec.ExtraFiles = append(spec.ExtraFiles, f)
			req.Dirs[i].FD = protocol.FDCall + len(spec.ExtraFiles)
		}
	}
	if err := s.spawn(ctx, t, spec, w); err != nil {
		w.close()
		return nil, err
	}

	// Load or compile, outside the call's time limit but within the
	// compile timeout, and killed at once if ctx ends.
	lctx, cancel := context.WithTimeoutCause(ctx, s.compileTimeout, errCompileTimeout)
	defer cancel()
	stopKill := context.AfterFunc(lctx, w.conn.Kill)
	prep, err := w.conn.Prepare(&req)
	if !stopKill() {
		// Killed for lctx, whatever Prepare returned: the worker is gone.
		w.close()
		if ctx.Err() == nil && errors.Is(context.Cause(lctx), errCompileTimeout) {
			return nil, fmt.Errorf("%w: loading the module took longer than %s%s", ErrModuleInvalid, s.compileTimeout, w.werr.suffix())
		}
		return nil, fmt.Errorf("%w: %w", ErrWorker, ctx.Err())
	}
	if err != nil {
		w.close()
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

// openEntry opens the cache entry at path if it can be handed to a worker
// as verified (entryCache.open); why not is logged unless it is missing.
func (s *Supervisor) openEntry(path string) (*os.File, error) {
	if s.entriesOff {
		return nil, errors.New("verified cache entries are off")
	}
	f, err := s.entries.open(path)
	switch {
	case err == nil, errors.Is(err, os.ErrNotExist):
	case errors.Is(err, cache.ErrCorrupt): // the worker's check warns of it
		s.log.Debug("cache entry left for the worker to check", "entry", filepath.Base(path), "error", err)
	default:
		s.log.Warn("cache entry left for the worker to check", "entry", filepath.Base(path), "error", err)
	}
	return f, err
}

// spawn creates the stdio pipes and starts the worker.
func (s *Supervisor) spawn(ctx context.Context, t *template, spec *isolation.Spec, w *warm) error {
	pipes, err := newStdio()
	if err != nil {
		return fmt.Errorf("%w: creating pipes: %w", ErrWorker, err)
	}
	// The call itself goes over a socket pair of its own (see
	// protocol.Channel), the worker's end after its stdio as FDCall;
	// none on Windows.
	ch, chWorker, err := protocol.NewChannel()
	if err != nil {
		pipes.spawned()
		pipes.close()
		return fmt.Errorf("%w: %w", ErrWorker, err)
	}
	start := time.Now()
	conn, err := protocol.Dial(ctx, &protocol.DialOptions{
		Path: s.workerPath,
		Args: s.workerArgs,
		Start: func(cmd *exec.Cmd) (protocol.Process, error) {
			full := *spec
			full.Path, full.Args = cmd.Path, cmd.Args[1:]
			full.Env = append(cmd.Env, pipes.workerEnv()...)
			full.ExtraFiles = pipes.workerFiles()
			if chWorker != nil {
				full.ExtraFiles = append(full.ExtraFiles, chWorker)
			}
			full.ExtraFiles = append(full.ExtraFiles, spec.ExtraFiles...)
			return t.sp.Start(&full)
		},
		Stderr:    w.werr,
		SocketDir: s.socketDir,
		Channel:   ch,
	})
	pipes.spawned()
	if chWorker != nil {
		// As for the pipes: a copy left here would keep a dead worker's
		// channel open, and its call waiting.
		chWorker.Close()
	}
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
		// The worker's message can quote the module (an import's name in a
		// link error): escaped in place, as err wraps perr.
		perr.Msg = untrusted.Show(perr.Msg)
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
