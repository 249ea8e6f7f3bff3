package supervisor

import (
	"bytes"
	"regexp"
	"sync/atomic"

	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/supervisor/tail"
)

// panicScan keeps the end of a module's stderr as it is forwarded, so that
// a call that ends the way a Rust or Go panic ends (Rust: an `unreachable`
// trap from its abort; Go: exit code 2) is reported as a panic, with the
// panic's words, rather than as a bare trap or exit code. It looks for the
// line such a program prints when it panics:
//
//	thread 'main' panicked at 'attempt to divide by zero', src/main.rs:8:5   (Rust before 1.73)
//	thread 'main' panicked at src/main.rs:8:5:                               (Rust 1.73 on)
//	attempt to divide by zero
//	panic: runtime error: integer divide by zero                             (Go)
//
// Forwarding pays only a copy into the tail; the tail is read once, and
// only for a call that ended that way. The panic must be among the last
// panicTail bytes: a Rust program aborts right after its panic line, a Go
// program prints the panicking goroutine's trace.
type panicScan struct {
	tail    tail.Buffer
	written atomic.Int64
}

const (
	// panicTail is how much of the end of stderr is kept.
	panicTail = 8 << 10
	// panicLineMax bounds the panic's line as quoted.
	panicLineMax = 512
)

var (
	rustPanic = regexp.MustCompile(`^thread '[^']*' panicked at (.+)$`)
	goPanic   = regexp.MustCompile(`^panic: (.+)$`)
)

func (s *panicScan) Write(p []byte) (int, error) {
	s.tail.Max = panicTail // set before the first write; only the forwarder writes
	s.written.Add(int64(len(p)))
	return s.tail.Write(p)
}

// apply sets res.Panic when the call ended the way a panic it printed ends.
func (s *panicScan) apply(res *Result) {
	rustEnd := res.Outcome == Trapped && res.Trap == "unreachable"
	goEnd := res.Outcome == Exited && res.ExitCode == 2
	if !rustEnd && !goEnd {
		return
	}
	b := s.tail.Bytes()
	if s.written.Load() > int64(len(b)) { // the first line is cut: not one to read
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			return
		}
	}
	if msg, rust := findPanic(b); msg != "" && rust == rustEnd {
		res.Panic = untrusted.Show(msg) // the module's own bytes
	}
}

// findPanic returns the first panic in stderr, as Result.Panic words it,
// and whether Rust (not Go) printed it.
func findPanic(stderr []byte) (msg string, rust bool) {
	loc := "" // a Rust 1.73 panic's location: its message is the next line
	for len(stderr) > 0 {
		line, rest, _ := bytes.Cut(stderr, []byte{'\n'})
		stderr = rest
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > panicLineMax {
			line = line[:panicLineMax]
		}
		if loc != "" {
			return "panicked at '" + string(line) + "', " + loc, true
		}
		if m := rustPanic.FindSubmatch(line); m != nil {
			at := string(m[1])
			if at[len(at)-1] == ':' && at[0] != '\'' {
				loc = at[:len(at)-1]
				continue
			}
			return "panicked at " + at, true
		}
		if m := goPanic.FindSubmatch(line); m != nil {
			return "panicked: " + string(m[1]), false
		}
	}
	return "", false
}
