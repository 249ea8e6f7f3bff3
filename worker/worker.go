// Package worker hosts wasmtime inside a worker process. It is the only
// package that imports wasmtime-go. A worker serves one call: it loads the
// module (precompiled code from the cache, or a fresh compile), applies the
// call's WASI policy (argv, environment, preopened directories, stdio pipes)
// and limits (linear memory through the store limiter, wall-clock time
// through epoch interruption), runs _start and reports how it ended.
package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/agent-ctl/agent-ctl/worker/cache"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// wasiModule is the only import namespace agent-ctl provides.
const wasiModule = "wasi_snapshot_preview1"

// maxFrames bounds the backtrace a trap reports.
const maxFrames = 20

// maxTableElements bounds table growth, which the memory limit does not
// cover.
const maxTableElements = 1 << 20

// NewEngine returns an engine configured the way every agent-ctl worker and
// every cache entry expects.
func newEngine() *wasmtime.Engine {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true)
	cfg.SetConsumeFuel(false)
	cfg.SetCraneliftOptLevel(wasmtime.OptLevelSpeed)
	cfg.SetMaxWasmStack(cache.MaxWasmStack)
	cfg.SetWasmThreads(false)
	return wasmtime.NewEngineWithConfig(cfg)
}

// Host serves one call inside a worker process.
type Host struct {
	// StdioPath returns the path wasmtime opens for a module stdio fd;
	// nil means /proc/self/fd/N.
	StdioPath func(fd int) string
	// Output returns the writer of the module's stdout or stderr
	// (protocol.FDStdout, protocol.FDStderr) where it cannot be a path;
	// nil, or a nil writer, means the path StdioPath names. Windows needs
	// it: wasmtime opens an output path with create and truncate, which a
	// named pipe refuses (see output.go).
	Output func(fd int) io.Writer
	// CloseStdio closes the module's stdio file descriptors once Run ends;
	// set in a worker process, where they belong to the one call.
	CloseStdio bool

	engineOnce sync.Once
	engine     *wasmtime.Engine

	req    *protocol.Request
	module *wasmtime.Module
	// initialMemory is the declared initial size of the module's memory.
	initialMemory int64
	// usesHost is set when the module imports agent_ctl functions.
	usesHost bool

	// Made ready by Prepare, so that a call's Run only adds argv and the
	// environment to WASI and calls _start: the linker, the WASI
	// configuration (below), and a store holding an instance made
	// ahead of the call (nil when the module has a start function, which
	// is module code and so runs only in Run, under the call's limits).
	linker         *wasmtime.Linker
	store          *wasmtime.Store
	inst           *wasmtime.Instance
	preInstantiate time.Duration
	// wasi is the call's WASI configuration with stdio and the granted
	// directories opened; Run adds the arguments and environment.
	wasi *wasmtime.WasiConfig
	// network and deadline serve the agent_ctl functions during Run.
	network  protocol.Network
	deadline time.Time
	// files serves the agent_ctl file functions during Run; made at the
	// first file_open, closed when Run ends.
	files *fileTable
	// inRun is set while Run runs the module: file functions called
	// outside it (never module code) are refused.
	inRun bool
}

var _ protocol.Worker = (*Host)(nil)

// Warm creates the engine ahead of the first request, so engine set-up
// overlaps the go-plugin handshake.
func (h *Host) Warm() { h.engineOnce.Do(func() { h.engine = newEngine() }) }

func invalid(format string, args ...any) error {
	return &protocol.Error{Kind: protocol.KindModuleInvalid, Msg: fmt.Sprintf(format, args...)}
}

// Prepare loads the module's precompiled code from the cache or compiles it,
// then checks what it imports and how much memory it declares.
func (h *Host) Prepare(req *protocol.Request) (*protocol.Prepared, error) {
	start := time.Now()
	h.Warm()
	h.req = req
	p := &protocol.Prepared{}
	if req.CacheFile != "" {
		m, err := h.load(req)
		if err == nil {
			h.module, p.CacheHit = m, true
		} else if !errors.Is(err, os.ErrNotExist) {
			p.CacheProblem = err.Error()
		}
	}
	if h.module == nil {
		problem, err := h.compile(req)
		if err != nil {
			return p, err
		}
		p.Compiled, p.CacheWriteProblem = true, problem
	}
	if err := h.check(); err != nil {
		return p, err
	}
	if err := h.ready(); err != nil {
		return p, err
	}
	p.LoadTime = time.Since(start)
	return p, nil
}

// load loads the module's precompiled code from the cache entry. An entry
// the supervisor has verified is not hashed again, and is mapped rather
// than copied: handed over as a descriptor (process isolation,
// req.CacheFD), from that descriptor; seen by name (container isolation,
// req.CacheIdentity), from the file opened if it has the identity of the
// one the supervisor verified, on the one mount of the worker's root that
// permits mapping it executable. An entry seen by name on a noexec mount
// (a supervisor that did not verify it) is read without a hash if its
// identity matches. Any other entry is read and its checksum checked
// first.
func (h *Host) load(req *protocol.Request) (*wasmtime.Module, error) {
	if req.CacheVerified && req.CacheFD > 0 {
		return h.mapEntry("/proc/self/fd/" + strconv.Itoa(req.CacheFD))
	}
	if req.CacheVerified && req.CacheIdentity != "" {
		if m, err := h.mapVerified(req.CacheFile, req.CacheIdentity); m != nil || err != nil {
			return m, err
		}
	}
	payload, err := readEntry(req.CacheFile, req.CacheIdentity)
	if err != nil {
		return nil, err
	}
	m, err := wasmtime.NewModuleDeserialize(h.engine, payload)
	if err != nil {
		return nil, fmt.Errorf("deserializing: %w", err)
	}
	return m, nil
}

// mapEntry maps the verified cache entry at path.
func (h *Host) mapEntry(path string) (*wasmtime.Module, error) {
	m, err := wasmtime.NewModuleDeserializeFile(h.engine, path)
	if err != nil {
		return nil, fmt.Errorf("deserializing: %w", err)
	}
	return m, nil
}

// mapVerified maps the cache entry at path if the file it opens there has
// identity verified, through that open file (/proc/self/fd), so that what
// is mapped is what was compared. It returns neither a module nor an error
// when the entry is not the verified one: the caller checks it as any
// entry.
func (h *Host) mapVerified(path, verified string) (*wasmtime.Module, error) {
	f, fi, err := openEntry(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if cache.Identity(fi) != verified {
		return nil, nil
	}
	return h.mapEntry("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
}

// openEntry opens the cache entry at path and tells what file it opened:
// its identity is compared with the verified entry's on the open file,
// never on the path again.
func openEntry(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// readEntry returns the payload of the cache entry at path: without
// hashing it if the open file has the identity of the entry the supervisor
// verified, else checked (cache.Copy) as it is read. Both read the one
// open file that was checked.
func readEntry(path, verified string) ([]byte, error) {
	f, fi, err := openEntry(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if verified != "" && cache.Identity(fi) == verified {
		n, err := cache.Payload(f, fi.Size())
		if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(f, b); err != nil {
			return nil, fmt.Errorf("reading cache entry: %w", err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()))
	if err := cache.Copy(&buf, f, fi.Size()); err != nil {
		return nil, err
	}
	return buf.Bytes()[:buf.Len()-cache.TrailerLen], nil
}

// ready builds the linker and instantiates the module ahead of the call.
// The store's epoch deadline has already passed while it instantiates: a
// module without a start function runs no code then (instantiation only
// lays out memory and tables); one with a start function is interrupted
// at its first instruction, and is instantiated again in Run, under the
// call's limits. The store has no WASI context yet: Run gives it the
// configuration made here, with the call's argv and environment.
func (h *Host) ready() error {
	h.linker = wasmtime.NewLinker(h.engine)
	if err := h.linker.DefineWasi(); err != nil {
		return fmt.Errorf("defining wasi: %w", err)
	}
	if h.usesHost {
		if err := defineHostFuncs(h.linker, func() (protocol.Network, time.Time) {
			if h.network == nil { // never while module code runs: Run sets it first
				return denyAll{}, time.Now()
			}
			return h.network, h.deadline
		}); err != nil {
			return fmt.Errorf("defining host functions: %w", err)
		}
		if err := defineFileFuncs(h.linker, func() *fileTable {
			if !h.inRun {
				return nil
			}
			if h.files == nil {
				h.files = newFileTable(h.req.Dirs)
			}
			return h.files
		}); err != nil {
			return fmt.Errorf("defining file functions: %w", err)
		}
	}
	if h.wasi != nil { // prepared again without a run (in process)
		h.wasi.Close()
		h.wasi = nil
	}
	// Made ahead when it can be; should the module's stdio not open here,
	// Run tries again and reports why.
	if wasi, err := h.newWasi(); err == nil {
		h.wasi = wasi
	}
	store := h.newStore()
	store.SetEpochDeadline(0)
	t := time.Now()
	inst, err := h.linker.Instantiate(store, h.module)
	if err != nil {
		store.Close()
		return nil
	}
	h.store, h.inst, h.preInstantiate = store, inst, time.Since(t)
	h.warmWasi()
	return nil
}

// newWasi returns a WASI configuration with the module's stdio and the
// granted directories opened, without arguments or environment.
func (h *Host) newWasi() (*wasmtime.WasiConfig, error) {
	wasi := wasmtime.NewWasiConfig()
	for fd, set := range map[int]func(string) error{
		protocol.FDStdin: wasi.SetStdinFile, protocol.FDStdout: wasi.SetStdoutFile, protocol.FDStderr: wasi.SetStderrFile,
	} {
		if w := h.output(fd); w != nil {
			if err := setOutput(wasi, fd == protocol.FDStderr, w); err != nil {
				return nil, fmt.Errorf("directing module stdio fd %d: %w", fd, err)
			}
			continue
		}
		if err := set(h.stdioPath(fd)); err != nil {
			return nil, fmt.Errorf("opening module stdio fd %d: %w", fd, err)
		}
	}
	if err := preopen(wasi, h.req.Dirs); err != nil {
		return nil, err
	}
	return wasi, nil
}

// warmWasi builds a WASI context like the one Run builds, on a store that
// is thrown away. The first one a process builds costs more than the next
// (code pages of wasmtime's WASI implementation faulted in, its first
// allocations); a worker builds exactly one for its call, so without this
// every call would pay that.
func (h *Host) warmWasi() {
	wasi := wasmtime.NewWasiConfig()
	wasi.SetArgv([]string{"warm"})
	wasi.SetEnv([]string{"K"}, []string{"V"})
	_ = wasi.SetStdinFile(os.DevNull)
	_ = wasi.SetStdoutFile(os.DevNull)
	_ = wasi.SetStderrFile(os.DevNull)
	_ = preopen(wasi, h.req.Dirs)
	store := wasmtime.NewStore(h.engine)
	store.SetWasi(wasi)
	store.Close()
}

// preopen grants the module each directory at its guest path, writable
// where the grant says so.
func preopen(wasi *wasmtime.WasiConfig, dirs []protocol.Dir) error {
	for _, d := range dirs {
		dirPerms, filePerms := wasmtime.DIR_READ, wasmtime.FILE_READ
		if d.Writable {
			dirPerms |= wasmtime.DIR_WRITE
			filePerms |= wasmtime.FILE_WRITE
		}
		host := d.Host
		if d.FD > 0 {
			host = "/proc/self/fd/" + strconv.Itoa(d.FD)
		}
		if err := wasi.PreopenDir(host, d.Guest, dirPerms, filePerms); err != nil {
			return fmt.Errorf("preopening %s at %s: %w", d.Host, d.Guest, err)
		}
	}
	return nil
}

func (h *Host) newStore() *wasmtime.Store {
	store := wasmtime.NewStore(h.engine)
	store.Limiter(h.req.Memory, maxTableElements, -1, -1, -1)
	return store
}

// compile compiles the module and writes its code to req.CompileOut; a
// failure to write costs only speed: the call goes on, and cacheProblem
// says why.
func (h *Host) compile(req *protocol.Request) (cacheProblem string, err error) {
	path := req.ModulePath
	if req.ModuleFD > 0 {
		path = "/proc/self/fd/" + strconv.Itoa(req.ModuleFD)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading module: %w", err)
	}
	sum := sha256.Sum256(wasm)
	if hex.EncodeToString(sum[:]) != req.Digest {
		return "", invalid("module %s changed while it was being loaded", req.ModulePath)
	}
	m, err := wasmtime.NewModule(h.engine, wasm)
	if err != nil {
		return "", invalid("compiling module: %s", firstLine(err.Error()))
	}
	h.module = m
	if req.CompileOut != "" {
		b, err := m.Serialize()
		if err == nil {
			err = cache.Write(req.CompileOut, b)
		}
		if err != nil {
			return err.Error(), nil
		}
	}
	return "", nil
}

// check refuses, before anything runs, a module that imports what agent-ctl
// does not provide or declares more memory than the policy allows.
func (h *Host) check() error {
	for _, imp := range h.module.Imports() {
		name := ""
		if n := imp.Name(); n != nil {
			name = *n
		}
		switch imp.Module() {
		case wasiModule:
		case hostModule:
			if err := checkHostImport(name, imp.Type()); err != nil {
				return err
			}
			h.usesHost = true
		default:
			return invalid("module imports %s::%s, which agent-ctl does not provide (only %s and %s)",
				imp.Module(), name, wasiModule, hostModule)
		}
		if mt := imp.Type().MemoryType(); mt != nil {
			if err := h.checkMemory(mt); err != nil {
				return err
			}
		}
	}
	hasStart := false
	for _, exp := range h.module.Exports() {
		if mt := exp.Type().MemoryType(); mt != nil {
			if err := h.checkMemory(mt); err != nil {
				return err
			}
		}
		if exp.Name() == "_start" && exp.Type().FuncType() != nil {
			hasStart = true
		}
	}
	if !hasStart {
		return invalid("module is not a WASI command: it exports no _start function (reactor modules are not supported)")
	}
	return nil
}

func (h *Host) checkMemory(mt *wasmtime.MemoryType) error {
	if mt.Is64() {
		return invalid("module uses 64-bit memory, which agent-ctl does not run")
	}
	need := int64(mt.Minimum()) * 65536
	h.initialMemory = max(h.initialMemory, need)
	if need > h.req.Memory {
		return &protocol.Error{Kind: protocol.KindMemoryLimit, Msg: fmt.Sprintf(
			"module needs %d bytes of linear memory at start, above the limit of %d", need, h.req.Memory)}
	}
	return nil
}

func (h *Host) stdioPath(fd int) string {
	if h.StdioPath != nil {
		return h.StdioPath(fd)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

func (h *Host) output(fd int) io.Writer {
	if h.Output == nil || fd == protocol.FDStdin {
		return nil
	}
	return h.Output(fd)
}

// Run instantiates the prepared module and runs _start under the call's
// limits.
func (h *Host) Run(run *protocol.RunArgs, network protocol.Network) (*protocol.Result, error) {
	if h.module == nil {
		return nil, errors.New("run before prepare")
	}
	// The instance and WASI configuration made ahead serve this call; a
	// later Run on the same Host (benchmarks, in process) makes its own.
	store, inst, wasi := h.store, h.inst, h.wasi
	h.store, h.inst, h.wasi = nil, nil, nil
	if store == nil {
		store = h.newStore()
	}
	if h.CloseStdio {
		// In a worker, the store is closed (wasmtime's own handles of the
		// module's stdio with it) and then the worker's copies, after this
		// returns: the reply goes out meanwhile, and the supervisor sees
		// EOF on the module's output without waiting for the worker to
		// exit.
		defer func() {
			go func() {
				store.Close()
				closeStdio()
			}()
		}()
	} else {
		defer store.Close()
	}
	if wasi == nil {
		var err error
		if wasi, err = h.newWasi(); err != nil {
			return nil, err
		}
	}
	wasi.SetArgv(run.Args)
	keys := make([]string, len(run.Env))
	vals := make([]string, len(run.Env))
	for i, kv := range run.Env {
		keys[i], vals[i], _ = strings.Cut(kv, "=")
	}
	wasi.SetEnv(keys, vals)
	store.SetWasi(wasi)

	if network == nil {
		network = denyAll{}
	}
	h.network, h.deadline = network, time.Now().Add(run.Timeout)
	h.inRun = true
	defer func() {
		h.network, h.inRun = nil, false
		if h.files != nil {
			h.files.closeAll()
			h.files = nil
		}
	}()

	// The deadline covers instantiation too: a start section is module code.
	store.SetEpochDeadline(1)
	timer := time.AfterFunc(run.Timeout, h.engine.IncrementEpoch)
	defer timer.Stop()

	res := &protocol.Result{InstantiateTime: h.preInstantiate}
	var err error
	if inst == nil {
		t0 := time.Now()
		inst, err = h.linker.Instantiate(store, h.module)
		res.InstantiateTime = time.Since(t0)
	}
	if err != nil {
		var trap *wasmtime.Trap
		if !errors.As(err, &trap) {
			return nil, invalid("instantiating module: %s", firstLine(err.Error()))
		}
		h.classify(res, err, nil, store)
		return res, nil
	}
	start := inst.GetFunc(store, "_start")
	t1 := time.Now()
	_, err = start.Call(store)
	res.RunTime = time.Since(t1)
	h.classify(res, err, inst, store)
	return res, nil
}
