package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxLine is the longest line kept: a longer one is cut here (and says so),
	// so a 100 MB line without a newline costs no more memory than this.
	maxLine = 64 << 10
	// bufSize is the read buffer: larger than maxLine, so that few reads
	// (host calls, each a hand-off to a WASI thread of wasmtime's and back)
	// are needed and skipAhead searches large blocks.
	bufSize = 1 << 20
	// sniffLen bytes at the start of a file decide whether it is binary (a NUL).
	sniffLen = 8 << 10
)

// A search runs over files in order, writing matches as it finds them.
type search struct {
	opts   *options
	root   string
	out    *bufio.Writer
	stderr io.Writer
	enc    *jsonWriter

	matches int
	files   int       // files searched
	errors  []string  // files that could not be read (entirely or from some line on)
	binary  []string  // files skipped because they hold NUL bytes
	outside []string  // symbolic links out of the root, skipped
	stopped bool      // --max reached and another match exists
	long    []byte    // the kept part of a line longer than maxLine
	carry   []byte    // the last bytes of a long line fed so far: see tail
	finders []*finder // one of these literals is in every matching line (none: no shortcut)
	skip    *finder   // the one literal, when lines without it can be skipped unsplit
}

func newSearch(opts *options, root string, stdout, stderr io.Writer) *search {
	s := &search{
		opts:   opts,
		root:   root,
		out:    bufio.NewWriterSize(stdout, 64<<10),
		stderr: stderr,
	}
	if opts.json {
		s.enc = &jsonWriter{w: s.out}
	}
	for _, l := range opts.literals {
		s.finders = append(s.finders, newFinder(l))
	}
	if len(s.finders) == 1 {
		s.skip = s.finders[0]
	}
	return s
}

func (s *search) fileError(err error) {
	s.errors = append(s.errors, err.Error())
	fmt.Fprintf(s.stderr, "logs: %v\n", err)
}

// searchAll searches files in order. A file's undated first lines continue the
// last dated line of the file before it in the same rotation set (rotation
// can split a stack trace); in the oldest file searched they are kept.
func (s *search) searchAll(files []logFile) {
	prevBase, inWindow := "", true
	for _, f := range files {
		if f.base != prevBase {
			prevBase, inWindow = f.base, true
		}
		inWindow = s.searchFile(f, inWindow)
		if s.stopped {
			return
		}
	}
}

// searchFile searches one file and returns the --since state after its last
// line: whether a continuation line would be in the window.
func (s *search) searchFile(f logFile, inWindow bool) bool {
	full := join(s.root, f.name)
	st, err := os.Stat(full)
	if err != nil {
		if f.link && errors.Is(err, fs.ErrPermission) {
			// Found by walking the directory, not asked for: a note, not an error.
			s.outside = append(s.outside, f.name)
			return inWindow
		}
		s.fileError(fmt.Errorf("%s: %v", f.name, explain(err, s.root)))
		return inWindow
	}
	if st.IsDir() || !st.Mode().IsRegular() {
		return inWindow // a link to a directory, a socket, a pipe: not a log file
	}
	mtime := st.ModTime()
	if !s.opts.since.IsZero() && mtime.Before(s.opts.since) {
		return false // last written before the cutoff: every line in it is older
	}
	fh, err := openFile(s.root, f.name)
	if err != nil {
		s.fileError(fmt.Errorf("%s: %v", f.name, explain(err, s.root)))
		return inWindow
	}
	defer fh.Close()
	var r io.Reader = fh
	if strings.HasSuffix(f.name, ".gz") {
		zr, err := gzip.NewReader(fh)
		if err != nil {
			if err == io.EOF {
				err = errors.New("empty file")
			}
			s.fileError(fmt.Errorf("%s: not a gzip file (%v): skipped", f.name, err))
			return inWindow
		}
		defer zr.Close()
		r = zr
	}
	// A read error (corrupt gzip data) may come while sniffing: stickyReader
	// keeps it, so scan searches the lines before it and then reports it.
	br := bufio.NewReaderSize(&stickyReader{r: r}, bufSize)
	head, _ := br.Peek(sniffLen)
	if bytes.IndexByte(head, 0) >= 0 {
		s.binary = append(s.binary, f.name)
		return inWindow
	}
	s.files++
	return s.scan(f.name, br, mtime, inWindow)
}

// stickyReader returns its reader's first error on every later read.
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

// readErr words the errors a gzip stream can end with.
func readErr(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated gzip data (unexpected end of file)")
	case errors.Is(err, gzip.ErrChecksum):
		return errors.New("corrupt gzip data (checksum error)")
	case errors.Is(err, gzip.ErrHeader):
		return errors.New("corrupt gzip data (bad header of a following member)")
	}
	var ce flate.CorruptInputError
	if errors.As(err, &ce) {
		return fmt.Errorf("corrupt gzip data (%v)", err)
	}
	return plainErr(err)
}

// scan reads lines from br and writes the matching ones. Lines are matched
// in the reader's buffer, without copying.
func (s *search) scan(name string, br *bufio.Reader, mtime time.Time, inWindow bool) bool {
	opts := s.opts
	clk := newClock(opts.loc, mtime)
	lineNo := 0
	for {
		if s.skip != nil {
			lineNo += s.skipAhead(br, clk, &inWindow)
		}
		line, err := br.ReadSlice('\n')
		if len(line) == 0 && err != nil {
			if err != io.EOF {
				s.fileError(fmt.Errorf("%s: %v after line %d (the lines before it were searched)", name, readErr(err), lineNo))
			}
			return inWindow
		}
		lineNo++
		var length int
		tailMatch := false
		if err == bufio.ErrBufferFull {
			line, length, tailMatch, err = s.longLine(line, br)
		} else {
			line = trimEOL(line)
			if length = len(line); length > maxLine {
				t := s.newTail(line)
				line, tailMatch = cutUTF8(s.long), t.match
			}
		}
		var stamp time.Time
		stamped := false
		if !opts.since.IsZero() {
			if stamp, stamped = clk.parse(line); stamped {
				inWindow = !stamp.Before(opts.since)
			}
		}
		if inWindow && (tailMatch || s.match(line)) {
			if s.matches == opts.max && opts.max > 0 {
				s.stopped = true
				return inWindow
			}
			s.matches++
			if s.enc != nil && !stamped {
				stamp, _ = clk.parse(line)
			}
			s.emit(name, lineNo, stamp, line, length)
		}
		if err != nil {
			if err != io.EOF {
				s.fileError(fmt.Errorf("%s: %v after line %d (the lines before it were searched)", name, readErr(err), lineNo))
			}
			return inWindow
		}
	}
}

func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	return line
}

// A tail follows a line longer than maxLine: the first maxLine bytes are
// kept (in search.long), the rest is only counted and, for --filter,
// searched (--regex sees only the kept part).
type tail struct {
	s      *search
	length int
	match  bool
}

// newTail starts a long line with its first bytes, which hold more than maxLine.
func (s *search) newTail(first []byte) *tail {
	s.long = append(s.long[:0], first[:maxLine]...)
	s.carry = s.carry[:0]
	t := &tail{s: s, length: maxLine}
	if f := s.opts.filter; len(f) > 1 {
		// the last len(f)-1 kept bytes: a match may straddle the cut
		s.carry = append(s.carry, first[maxLine-len(f)+1:maxLine]...)
	}
	t.feed(first[maxLine:])
	return t
}

// feed takes the next bytes of the line.
func (t *tail) feed(chunk []byte) {
	t.length += len(chunk)
	f := t.s.opts.filter
	if len(f) == 0 || t.match {
		return
	}
	t.match = containsAcross(t.s.carry, chunk, f)
	if k := len(f) - 1; k > 0 {
		c := append(t.s.carry, chunk[max(0, len(chunk)-k):]...)
		t.s.carry = append(t.s.carry[:0], c[max(0, len(c)-k):]...)
	}
}

// longLine reads the rest of a line that filled the read buffer, up to its
// newline, keeping only its first maxLine bytes (cut back to a whole UTF-8
// character). It returns them, the line's full length, and whether --filter
// matched in the part dropped.
func (s *search) longLine(first []byte, br *bufio.Reader) (kept []byte, length int, tailMatch bool, err error) {
	t := s.newTail(first)
	for {
		var chunk []byte
		chunk, err = br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			t.feed(chunk)
			continue
		}
		t.feed(trimEOL(chunk))
		return cutUTF8(s.long), t.length, t.match, err
	}
}

// containsAcross reports whether filter occurs in chunk or straddles carry and chunk.
func containsAcross(carry, chunk, filter []byte) bool {
	if bytes.Contains(chunk, filter) {
		return true
	}
	if len(carry) == 0 {
		return false
	}
	n := min(len(chunk), len(filter)-1)
	joint := append(append(make([]byte, 0, len(carry)+n), carry...), chunk[:n]...)
	return bytes.Contains(joint, filter)
}

// cutUTF8 drops an incomplete UTF-8 sequence at the end of b.
func cutUTF8(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// skipAhead drops the whole lines, from the reader's position on, that do
// not contain the literal, and returns how many it dropped. It stops before
// the first line that does, before a line longer than the buffer, and at the
// end of the file: the line-by-line loop takes over there. With --since, the
// last timestamp in what it drops sets inWindow, for a continuation line next.
func (s *search) skipAhead(br *bufio.Reader, clk *clock, inWindow *bool) (lines int) {
	// Search what is buffered; read more only when no whole line is left. (Asking
	// bufio for a full buffer each time would move up to bufSize bytes per match.)
	need := 1
	for {
		buf, err := br.Peek(max(br.Buffered(), need)) // fewer bytes only at the end of the data
		i := s.skip.index(buf)
		end := buf
		if i >= 0 {
			end = buf[:i]
		}
		cut := bytes.LastIndexByte(end, '\n') + 1
		if cut > 0 {
			lines += countLines(buf[:cut])
			if !s.opts.since.IsZero() {
				if t, ok := lastStamp(buf[:cut], clk); ok {
					*inWindow = !t.Before(s.opts.since)
				}
			}
			br.Discard(cut)
		}
		if i >= 0 || err != nil {
			return lines
		}
		need = 1
		if cut == 0 {
			if len(buf) >= bufSize {
				return lines // a line longer than the buffer: longLine reads it
			}
			need = len(buf) + 1 // the start of a line: read on
		}
	}
}

// lastStamp returns the timestamp of the last line in b (whole lines) that has one.
func lastStamp(b []byte, clk *clock) (time.Time, bool) {
	end := len(b) - 1 // b[end] is a line's newline
	for end >= 0 {
		start := bytes.LastIndexByte(b[:end], '\n') + 1
		if t, ok := clk.parse(b[start:end]); ok {
			return t, true
		}
		end = start - 1
	}
	return time.Time{}, false
}

// countLines counts the newlines in b (bytes.Count is a plain loop in wasm;
// countByte is simd128 there: see simd.wat).
func countLines(b []byte) int { return countByte(b, '\n') }

func (s *search) match(line []byte) bool {
	if len(s.finders) > 0 {
		found := false
		for _, f := range s.finders {
			if f.index(line) >= 0 {
				found = true
				break
			}
		}
		if !found {
			return false
		}
		if s.opts.re == nil {
			return true // the finder is --filter itself
		}
	}
	if s.opts.re != nil {
		return s.opts.re.Match(line)
	}
	return true
}

func (s *search) emit(name string, lineNo int, stamp time.Time, line []byte, length int) {
	if s.enc != nil {
		s.enc.match(name, lineNo, stamp, line, length)
		return
	}
	s.out.WriteString(textName(name))
	s.out.WriteByte(':')
	s.out.WriteString(itoa(lineNo))
	s.out.WriteByte(':')
	s.out.Write(line)
	if length > len(line) {
		fmt.Fprintf(s.out, " [logs: line cut: first %d of %d bytes shown]", len(line), length)
	}
	s.out.WriteByte('\n')
}

// textName quotes a file name that holds control characters, so a crafted name
// cannot forge lines of output.
func textName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return fmt.Sprintf("%q", name)
		}
	}
	return name
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// finish writes the notes and the JSON summary, and flushes stdout.
func (s *search) finish() error {
	if s.stopped {
		fmt.Fprintf(s.stderr, "logs: stopped after %d matching lines (--max %d); more follow\n", s.matches, s.opts.max)
	}
	if len(s.binary) > 0 {
		fmt.Fprintf(s.stderr, "logs: skipped %d binary files: %s\n", len(s.binary), strings.Join(s.binary, ", "))
	}
	if len(s.outside) > 0 {
		fmt.Fprintf(s.stderr, "logs: skipped %d symbolic links out of %s (the sandbox refuses them): %s\n", len(s.outside), s.root, strings.Join(s.outside, ", "))
	}
	if s.enc != nil {
		s.enc.summary(s)
	}
	return s.out.Flush()
}
