package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// maxLine bounds a line the reader accepts; a record is far smaller (an
// argv is at most manifest.MaxArgv).
const maxLine = 16 << 20

// Line is one line of the log as read back.
type Line struct {
	// File is the file's path and N the line's number in it, from 1.
	File string
	N    int
	// Raw is the line without its newline.
	Raw []byte
	// Record is the parsed line; nil when it does not parse (Err says
	// why).
	Record *Record
	Err    error
	// Last is true for the log's very last line; Unterminated when that
	// line has no newline (a crash mid-write, not yet closed by an append).
	Last, Unterminated bool
}

// Where names the line for people: "audit.log:12".
func (l *Line) Where() string { return fmt.Sprintf("%s:%d", filepath.Base(l.File), l.N) }

// Scan calls fn for every line of the log in dir, in the chain's order,
// until fn returns an error (which Scan returns).
func Scan(dir string, fn func(*Line) error) error {
	files, err := Files(dir)
	if err != nil {
		return err
	}
	var pending *Line // held back one line, to mark the very last
	for _, name := range files {
		err := scanFile(name, func(l *Line) error {
			if pending != nil {
				if err := fn(pending); err != nil {
					return err
				}
			}
			pending = l
			return nil
		})
		if err != nil {
			return err
		}
	}
	if pending != nil {
		pending.Last = true
		return fn(pending)
	}
	return nil
}

func scanFile(name string, fn func(*Line) error) error {
	f, err := openShared(name, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	return scanLines(f, name, 0, fn)
}

// scanLines reads lines from r, numbering them after n.
func scanLines(r io.Reader, name string, n int, fn func(*Line) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			var b []byte
			b = append(b, raw...)
			for errors.Is(err, bufio.ErrBufferFull) && len(b) <= maxLine {
				raw, err = br.ReadSlice('\n')
				b = append(b, raw...)
			}
			raw = b
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("reading %s: line %d is longer than %d bytes", name, n+1, maxLine)
			}
			return fmt.Errorf("reading %s: %w", name, err)
		}
		n++
		l := &Line{File: name, N: n, Raw: bytes.Clone(bytes.TrimSuffix(raw, []byte{'\n'})), Unterminated: err != nil}
		var rec Record
		if perr := json.Unmarshal(l.Raw, &rec); perr != nil {
			l.Err = perr
		} else {
			l.Record = &rec
		}
		if ferr := fn(l); ferr != nil {
			return ferr
		}
		if err != nil {
			return nil
		}
	}
}

// Problem is the first break Verify found in the chain.
type Problem struct {
	// Where names the line ("audit.log:12") and Seq its seq, when known.
	Where string
	Seq   int64
	// What says what is wrong with it.
	What string
}

func (p *Problem) Error() string { return p.Where + ": " + p.What }

// Report is what Verify found.
type Report struct {
	// Lines counts the records that chain; Head is the hash of the last
	// one and HeadSeq its seq: record them elsewhere to detect a cut
	// tail, which no chain can show by itself.
	Lines   int
	Head    string
	HeadSeq int64
	// Torn lists torn lines (a crash mid-write): closed by a later append
	// and skipped by the chain, or still open at the end.
	Torn []string
	// Problem is the first line that was edited, removed or reordered;
	// nil when the chain holds.
	Problem *Problem
}

// Verify walks the chain of the log in dir. It stops at the first line
// that was edited, removed or reordered and names it in the Report; the
// error is for a log it could not read.
func Verify(dir string) (*Report, error) {
	rep := &Report{}
	var (
		prevHash string
		prevSeq  int64
		prevAt   string
		bad      *Line // a line that does not parse, until the next says whether it was torn
		gap      *Line // a line past a gap in seq, until the next says whether it was moved
	)
	errStop := errors.New("stop")
	fail := func(where string, seq int64, what string, a ...any) error {
		rep.Problem = &Problem{Where: where, Seq: seq, What: fmt.Sprintf(what, a...)}
		return errStop
	}
	removed := func(g *Line) error {
		return fail(g.Where(), g.Record.Seq, "lines were removed before it: seq %d follows seq %d (%s)", g.Record.Seq, prevSeq, prevAt)
	}
	err := Scan(dir, func(l *Line) error {
		if g := gap; g != nil {
			if l.Record != nil && l.Record.Seq > prevSeq && l.Record.Seq < g.Record.Seq {
				return fail(g.Where(), g.Record.Seq, "out of order: seq %d comes before seq %d (%s)", g.Record.Seq, l.Record.Seq, l.Where())
			}
			return removed(g)
		}
		if l.Record == nil {
			if bad != nil {
				return fail(bad.Where(), 0, "edited: it is not a valid record (%v)", bad.Err)
			}
			if l.Last && l.Unterminated {
				rep.Torn = append(rep.Torn, l.Where()+" (unterminated; the next append closes it)")
				return nil
			}
			bad = l
			return nil
		}
		r := l.Record
		if bad != nil {
			// Only a torn fragment that the writer closed is skipped: this
			// line names its hash and chains past it.
			if r.Torn == "" || r.Torn != lineHash(bad.Raw) || r.Prev != prevHash {
				return fail(bad.Where(), 0, "edited: it is not a valid record (%v)", bad.Err)
			}
			rep.Torn = append(rep.Torn, bad.Where())
			bad = nil
		} else if r.Torn != "" {
			return fail(l.Where(), r.Seq, "says it follows a torn line, but the line before it is whole: a line was removed or edited")
		}
		switch {
		case r.Seq == prevSeq+1 && r.Prev == prevHash:
		case r.Seq > prevSeq+1 && prevSeq == 0 && prevAt == "":
			return fail(l.Where(), r.Seq, "the log starts at seq %d: lines 1 to %d were removed", r.Seq, r.Seq-1)
		case r.Seq > prevSeq+1:
			// Removed, or moved: the next line tells.
			gap = l
			return nil
		case r.Seq <= prevSeq:
			return fail(l.Where(), r.Seq, "out of order: seq %d follows seq %d (%s)", r.Seq, prevSeq, prevAt)
		case prevAt == "":
			return fail(l.Where(), r.Seq, "edited: the first line must chain to nothing")
		default:
			return fail(prevAt, prevSeq, "edited: the hash of this line is not what the next line (%s) recorded (or that line's prev was edited)", l.Where())
		}
		prevHash, prevSeq, prevAt = lineHash(l.Raw), r.Seq, l.Where()
		rep.Lines++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if rep.Problem == nil && gap != nil {
		_ = removed(gap)
	}
	if rep.Problem == nil && bad != nil {
		rep.Problem = &Problem{Where: bad.Where(), What: fmt.Sprintf("edited: it is not a valid record (%v)", bad.Err)}
	}
	rep.Head, rep.HeadSeq = prevHash, prevSeq
	return rep, nil
}

// Filter selects records for Read and Follow; zero fields select all.
type Filter struct {
	Tool, Caller string
	Since        time.Time
}

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	if f == nil {
		return true // no filter: every record
	}
	return (f.Tool == "" || r.Tool == f.Tool) && (f.Caller == "" || r.Caller == f.Caller) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since))
}

// Read calls fn for every record of the log in dir that f selects, with
// the line as written. Lines that do not parse are skipped (Verify names
// them).
func Read(dir string, f *Filter, fn func(r *Record, raw []byte) error) error {
	return Scan(dir, func(l *Line) error {
		if l.Record == nil || !f.Match(l.Record) {
			return nil
		}
		return fn(l.Record, l.Raw)
	})
}

// Follow calls fn for every record f selects, as Read does, then keeps
// reading records as they are appended, across rotations, until ctx ends;
// poll is how often it looks for more (zero: 200ms).
func Follow(ctx context.Context, dir string, f *Filter, poll time.Duration, fn func(r *Record, raw []byte) error) error {
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	// One scan both prints what exists and learns its last seq: a second
	// scan for the seq would skip the lines appended between the two.
	// Later polls go by seq, not by offset, so that a rotation loses or
	// repeats nothing.
	var seen int64
	err := Scan(dir, func(l *Line) error {
		if l.Record == nil || l.Unterminated {
			return nil
		}
		seen = max(seen, l.Record.Seq)
		if !f.Match(l.Record) {
			return nil
		}
		return fn(l.Record, l.Raw)
	})
	if err != nil {
		return err
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// A rotation may rename the files while they are listed and
		// read: the records of one poll must follow seen without a gap,
		// else the files are listed and read again (a few times, then
		// what was read is taken).
		var recs []followed
		for try := 0; ; try++ {
			if recs, err = newRecords(dir, seen); err != nil {
				return err
			}
			if contiguous(recs, seen) || try == 4 {
				break
			}
		}
		for _, r := range recs {
			seen = r.rec.Seq
			if !f.Match(r.rec) {
				continue
			}
			if err := fn(r.rec, r.raw); err != nil {
				return err
			}
		}
	}
}

// followed is a record Follow read, and its line.
type followed struct {
	rec *Record
	raw []byte
}

// newRecords reads the records past seen, in order. Only the newest files
// can hold them: back to the first that starts at or before seen+1. A
// burst may rotate any number of times between two polls, so this is not
// a fixed count.
func newRecords(dir string, seen int64) ([]followed, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	start := 0
	for i := len(files) - 1; i >= 0; i-- {
		if first, ok := firstSeq(files[i]); ok && first <= seen+1 {
			start = i
			break
		}
	}
	var out []followed
	last := seen
	for _, name := range files[start:] {
		err := scanFile(name, func(l *Line) error {
			if l.Record == nil || l.Record.Seq <= last || l.Unterminated {
				return nil
			}
			last = l.Record.Seq
			out = append(out, followed{l.Record, slices.Clone(l.Raw)})
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return out, nil
}

// contiguous reports whether recs are the records right after seen, with
// no seq missing.
func contiguous(recs []followed, seen int64) bool {
	for i, r := range recs {
		if r.rec.Seq != seen+1+int64(i) {
			return false
		}
	}
	return true
}

// errFirst ends firstSeq's scan at the first record.
var errFirst = errors.New("first record read")

// firstSeq is the seq of the first record in the file name; false when it
// has none or cannot be read (rotated away meanwhile).
func firstSeq(name string) (int64, bool) {
	var seq int64
	err := scanFile(name, func(l *Line) error {
		if l.Record == nil {
			return nil
		}
		seq = l.Record.Seq
		return errFirst
	})
	return seq, errors.Is(err, errFirst)
}
