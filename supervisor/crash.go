package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

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
