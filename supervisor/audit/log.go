package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// Names of the files in the audit directory.
const (
	// CurrentName is the file being appended to.
	CurrentName = "audit.log"
	// lockName is the lock file every writer flocks around an append.
	lockName = "audit.lock"
	// rotatedPrefix and rotatedSuffix frame a rotated file's name, which
	// holds the seq of its last line, zero-padded: names sort in order.
	rotatedPrefix = "audit-"
	rotatedSuffix = ".log"
)

// Defaults of Options.
const (
	DefaultMaxFileSize   = 64 << 20
	DefaultBatchInterval = 100 * time.Millisecond
	// minFree is the free space Check asks of the audit directory's file
	// system: enough for many lines, so that a call which passes the check
	// can be recorded.
	minFree = 1 << 20
)

// ErrUnwritable is wrapped by every error of Check and Append: the call
// could not be recorded.
var ErrUnwritable = errors.New("audit log not writable")

// Options configures a Log. The zero value fsyncs every line and rotates
// at DefaultMaxFileSize.
type Options struct {
	// MaxFileSize is the size past which the current file is rotated; zero
	// means DefaultMaxFileSize.
	MaxFileSize int64
	// Batch fsyncs at most once per BatchInterval instead of once per
	// line: a crash of the host (not of agent-ctl) may then lose the last
	// interval's lines. False means per line.
	Batch bool
	// BatchInterval is the longest a line waits for its fsync in batch
	// mode; zero means DefaultBatchInterval.
	BatchInterval time.Duration
}

// Log appends records to an audit directory. It is safe for concurrent
// use, and many processes may append to the same directory at once.
type Log struct {
	dir  string
	opts Options

	mu   sync.Mutex
	lock *os.File // the lock file, flocked around each append
	f    *os.File // the current file as last opened
	// What this Log last saw at the current file's end: when the file is
	// still the same and as long, the chain needs no reading.
	ino      uint64
	size     int64
	lastHash string
	lastSeq  int64
	// dirty is true while a batch-mode fsync is pending.
	dirty bool
	timer *time.Timer
}

// Open opens (creating it, 0700) the audit directory dir.
func Open(dir string, o *Options) (*Log, error) {
	l := &Log{dir: dir}
	if o != nil {
		l.opts = *o
	}
	if l.opts.MaxFileSize <= 0 {
		l.opts.MaxFileSize = DefaultMaxFileSize
	}
	if l.opts.BatchInterval <= 0 {
		l.opts.BatchInterval = DefaultBatchInterval
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: creating %s: %w", ErrUnwritable, dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		// A directory made read-only after its lock file exists: open
		// the log anyway (flock needs no write access), so that Check
		// refuses each call and says why, and readers still lock.
		lock, err = os.Open(filepath.Join(dir, lockName))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %w", ErrUnwritable, filepath.Join(dir, lockName), err)
	}
	l.lock = lock
	return l, nil
}

// Dir is the audit directory.
func (l *Log) Dir() string { return l.dir }

// Close syncs what batch mode holds and closes the files.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.f != nil {
		if l.dirty {
			err = l.f.Sync()
			l.dirty = false
		}
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f = nil
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return err
}

// Check reports whether a call could be recorded now: the directory's file
// system is writable and has room. A call is checked before its worker is
// spawned, so that a call that cannot be recorded does not run.
func (l *Log) Check() error {
	if err := checkWritable(l.dir, minFree); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnwritable, l.dir, err)
	}
	return nil
}

// Append writes r as one line at the end of the log, chained to the line
// before it, and fsyncs it (batch mode: schedules the fsync). It sets
// r.Seq, r.Prev and, after a torn line, r.Torn.
func (l *Log) Append(r *Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return fmt.Errorf("%w: the log is closed", ErrUnwritable)
	}
	if err := statefile.LockFile(l.lock); err != nil {
		return fmt.Errorf("%w: locking %s: %w", ErrUnwritable, l.lock.Name(), err)
	}
	defer statefile.UnlockFile(l.lock)
	if err := l.append(r); err != nil {
		return fmt.Errorf("%w: %w", ErrUnwritable, err)
	}
	return nil
}

// append does Append's work under both locks.
func (l *Log) append(r *Record) error {
	path := filepath.Join(l.dir, CurrentName)
	if err := l.openCurrent(path); err != nil {
		return err
	}
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var torn []byte
	if fileIno(fi) != l.ino || fi.Size() != l.size {
		// Another process wrote, or this one starts: read the chain's end.
		var last []byte
		last, torn, err = tail(l.f, fi.Size())
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if last == nil {
			// A new file (or one holding a torn line alone): the chain continues from the newest rotated one.
			if last, err = l.rotatedTail(); err != nil {
				return err
			}
		}
		l.lastHash, l.lastSeq = "", 0
		if last != nil {
			var prev struct {
				Seq int64 `json:"seq"`
			}
			// A last line that does not parse (edited) still chains:
			// Verify reports it; the writer carries on with a seq past it.
			_ = json.Unmarshal(last, &prev)
			l.lastHash, l.lastSeq = lineHash(last), prev.Seq
		}
	}
	r.Seq, r.Prev, r.Torn = l.lastSeq+1, l.lastHash, ""
	var buf bytes.Buffer
	if torn != nil {
		// A crash left a line without its end: close it, and say so.
		r.Torn = lineHash(torn)
		buf.WriteByte('\n')
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding the record: %w", err)
	}
	buf.Write(line)
	buf.WriteByte('\n')
	// One write: with O_APPEND the line lands whole at the end.
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		l.ino = 0 // whatever reached the file, read it back next time
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := l.sync(); err != nil {
		l.ino = 0
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	l.ino, l.size = fileIno(fi), fi.Size()+int64(buf.Len())
	l.lastHash, l.lastSeq = lineHash(line), r.Seq
	if l.size >= l.opts.MaxFileSize {
		return l.rotate(path)
	}
	return nil
}

// openCurrent (re)opens the current file unless the one held still is it:
// another process may have rotated it.
func (l *Log) openCurrent(path string) error {
	if l.f != nil {
		if fi, err := os.Stat(path); err == nil && fileIno(fi) == l.ino && l.ino != 0 {
			return nil
		}
		if l.dirty {
			_ = l.f.Sync()
			l.dirty = false
		}
		l.f.Close()
		l.f, l.ino = nil, 0
	}
	f, err := openShared(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	l.f = f
	return nil
}

// sync makes the line durable now, or in batch mode within the interval.
func (l *Log) sync() error {
	if !l.opts.Batch {
		return l.f.Sync()
	}
	if !l.dirty {
		l.dirty = true
		f := l.f
		l.timer = time.AfterFunc(l.opts.BatchInterval, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.f == f && l.dirty {
				_ = f.Sync()
				l.dirty = false
			}
		})
	}
	return nil
}

// rotate renames the current file after its last line's seq; the next
// append starts a new one, chained to it.
func (l *Log) rotate(path string) error {
	if l.dirty {
		_ = l.f.Sync()
		l.dirty = false
	}
	// Closed before the rename: Windows renames no file that is open
	// (os.OpenFile shares no delete access). The next append opens the
	// current file again, whether the rename was done or not.
	l.f.Close()
	l.f, l.ino = nil, 0
	name := filepath.Join(l.dir, fmt.Sprintf("%s%020d%s", rotatedPrefix, l.lastSeq, rotatedSuffix))
	if err := os.Rename(path, name); err != nil {
		return fmt.Errorf("rotating %s: %w", path, err)
	}
	if err := statefile.SyncDir(l.dir); err != nil {
		return fmt.Errorf("rotating %s: %w", path, err)
	}
	return nil
}

// rotatedTail returns the last line of the newest rotated file; nil when
// there is none.
func (l *Log) rotatedTail() ([]byte, error) {
	files, err := rotated(l.dir)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	f, err := openShared(files[len(files)-1], os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", files[len(files)-1], err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	last, _, err := tail(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return last, nil
}

// tail reads the end of a file of size bytes: its last complete line
// (without the newline; nil if none) and, when the file does not end in a
// newline, the torn fragment after it.
func tail(f *os.File, size int64) (last, torn []byte, err error) {
	if size == 0 {
		return nil, nil, nil
	}
	const chunk = 64 << 10
	var buf []byte
	for off := size; ; {
		n := int64(chunk)
		if off < n {
			n = off
		}
		off -= n
		b := make([]byte, n, n+int64(len(buf)))
		if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		buf = append(b, buf...)
		end := len(buf)
		if buf[end-1] != '\n' {
			// The fragment runs from the last newline (or the start).
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 && off > 0 {
				continue
			}
			torn = bytes.Clone(buf[i+1:])
			end = i + 1
			if end == 0 {
				return nil, torn, nil
			}
		}
		// buf[:end] ends in a newline: its line starts after the one
		// before.
		i := bytes.LastIndexByte(buf[:end-1], '\n')
		if i < 0 && off > 0 {
			continue
		}
		return bytes.Clone(buf[i+1 : end-1]), torn, nil
	}
}

// Files lists the audit directory's files in the chain's order: the
// rotated ones, oldest first, then the current one if it exists.
func Files(dir string) ([]string, error) {
	files, err := rotated(dir)
	if err != nil {
		return nil, err
	}
	cur := filepath.Join(dir, CurrentName)
	if _, err := os.Stat(cur); err == nil {
		files = append(files, cur)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", cur, err)
	}
	return files, nil
}

func rotated(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, rotatedPrefix) && strings.HasSuffix(n, rotatedSuffix) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}
