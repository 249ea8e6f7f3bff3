package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// tailBuffer receives a worker's own stderr. It keeps the last few KiB, for
// error messages, and notices a Go runtime crash (a fatal signal, a panic,
// a fatal error), whose header comes first and whose goroutine dump can run
// to hundreds of KiB: a crashed worker's message then names the crash,
// never the dump, which goes to the debug log.
type tailBuffer struct {
	// log receives a crashed worker's stderr tail at debug level; nil
	// discards it.
	log *slog.Logger

	mu     sync.Mutex
	buf    []byte
	line   []byte // the line being written, up to lineMax bytes
	long   bool   // the line being written is longer than lineMax
	crash  string // what crashed the worker, from the crash's header
	signal string // the fatal signal and its name, e.g. "SIGSEGV: segmentation violation"
	logged bool
}

const (
	tailMax = 4 << 10
	lineMax = 256
)

// Go runtime crash headers: "SIGSEGV: segmentation violation" (a signal in
// non-Go code, e.g. compiled wasm), "[signal SIGSEGV: segmentation
// violation code=… addr=… pc=…]" (in Go code), "panic: …", "fatal error: …".
var (
	signalLine = regexp.MustCompile(`^\[signal (SIG[A-Z0-9]+: [a-z -]+?)(?: code=|\])|^(SIG[A-Z0-9]+: [a-z -]+)$`)
	crashLine  = regexp.MustCompile(`^(panic|fatal error): `)
)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	if t.signal == "" { // past the signal, nothing more to learn
		for rest := p; len(rest) > 0; {
			chunk, after, nl := bytes.Cut(rest, []byte{'\n'})
			if !t.long {
				if len(t.line)+len(chunk) > lineMax {
					t.long, t.line = true, t.line[:0]
				} else {
					t.line = append(t.line, chunk...)
				}
			}
			if !nl {
				break
			}
			if !t.long {
				t.scan(string(bytes.TrimSpace(t.line)))
			}
			t.line, t.long, rest = t.line[:0], false, after
		}
	}
	return len(p), nil
}

// scan looks at one complete line of the worker's stderr.
func (t *tailBuffer) scan(l string) {
	if m := signalLine.FindStringSubmatch(l); m != nil {
		t.signal = strings.TrimSpace(m[1] + m[2])
		return
	}
	if t.crash == "" && crashLine.MatchString(l) {
		t.crash = l
	}
}

// crashed returns what crashed the worker, or "" if its stderr shows no Go
// runtime crash: the signal if there was one, else the panic or fatal
// error.
func (t *tailBuffer) crashed() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.signal != "" {
		return t.signal
	}
	return t.crash
}

// suffix renders the tail for an error message, or nothing. For a crashed
// worker it names the crash, and the tail goes to the debug log.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	crash := t.signal
	if crash == "" {
		crash = t.crash
	}
	if crash != "" {
		if !t.logged && t.log != nil {
			t.logged = true
			t.log.Debug("worker crashed", "crash", crash, "stderr_tail", string(t.buf))
		}
		return "; the worker crashed (" + crash + "; its stack trace is in the debug log: --log-level debug)"
	}
	s := string(bytes.TrimSpace(t.buf))
	if s == "" {
		return ""
	}
	return "; worker said: " + s
}

// settleTimeout bounds the wait for a dead worker's stderr.
const settleTimeout = 5 * time.Second

// settle waits until a worker whose RPC failed has been reaped, which
// go-plugin does only after it has read the worker's stderr to its end: the
// crash header is in the tail buffer by then.
func settle(conn *protocol.Conn) {
	if conn == nil {
		return
	}
	t := time.NewTimer(settleTimeout)
	defer t.Stop()
	select {
	case <-conn.Exited():
	case <-t.C:
	}
}

// errEvicted says that a crashed worker's cache entry is gone.
var errEvicted = errors.New("the compiled code it loaded from the cache was evicted")

// evict removes the cache entry a crashed worker was given, unless it has
// been replaced since (then the entry there is another compile's).
func (s *Supervisor) evict(t *template, given os.FileInfo, crash string) {
	cur, err := os.Lstat(t.req.CacheFile)
	if err != nil || !os.SameFile(given, cur) {
		return
	}
	if err := os.Remove(t.req.CacheFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cache entry not evicted", "module", t.name, "error", err)
		return
	}
	s.log.Warn("cache entry evicted: its worker crashed", "module", t.name, "crash", crash,
		"entry", filepath.Base(t.req.CacheFile))
}

// crashedLoading handles a worker that failed to load its module: if it
// crashed (a Go runtime crash, not a refusal) with a cache entry, the entry
// is evicted and err marked with errEvicted, so that obtain compiles once
// more. Compiled code with a sound trailer can still be bad (a bug, a disk
// that returned other bytes whose trailer was rewritten, a worker taken
// over while compiling): code that crashes its worker must not stay.
func (s *Supervisor) crashedLoading(t *template, w *warm, err error) error {
	crash := w.werr.crashed()
	if crash == "" || w.cacheFile == nil {
		return err
	}
	s.evict(t, w.cacheFile, crash)
	return fmt.Errorf("%w; %w", err, errEvicted)
}

// crashedRunning handles a call whose worker failed while it ran: if the
// worker crashed on code from the cache, the entry is evicted, and the
// call runs once more in a fresh worker, which compiles the module, when
// nothing of the first run can have been seen (replayable). Otherwise err
// says that the entry is gone and the next call compiles.
func (s *Supervisor) crashedRunning(ctx context.Context, c *Call, t *template, w *warm, r *run, err error) (*Result, error) {
	crash := w.werr.crashed()
	if crash == "" || !w.cacheHit || w.cacheFile == nil {
		return nil, err
	}
	s.evict(t, w.cacheFile, crash)
	if c.replay || !r.replayable() {
		return nil, fmt.Errorf("%w; %w: the next call compiles the module again", err, errEvicted)
	}
	s.log.Warn("running the call again: its worker crashed on code from the cache", "module", t.name, "crash", crash)
	again := *c
	again.replay = true
	return s.Invoke(ctx, &again)
}

// replayable reports whether running the call again would be invisible to
// its caller and to the host: no output was forwarded, no byte of stdin was
// consumed, and the module could change nothing outside its worker (no
// network, no writable directory).
func (r *run) replayable() bool {
	if r.remaining.Load() != r.pol.MaxOutput || len(r.pol.Net) > 0 {
		return false
	}
	for _, d := range r.pol.Dirs {
		if d.Writable {
			return false
		}
	}
	if r.call.Stdin != nil {
		select {
		case <-r.stdinDone:
		default:
			return false // still reading: a replay would race it
		}
		if r.stdinRead.Load() != 0 {
			return false
		}
	}
	return true
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
