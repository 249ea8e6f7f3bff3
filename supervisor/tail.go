package supervisor

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/supervisor/tail"
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

	tail tail.Buffer // the last tail.DefaultMax bytes, for messages

	mu     sync.Mutex
	line   []byte // the line being written, up to lineMax bytes
	long   bool   // the line being written is longer than lineMax
	crash  string // what crashed the worker, from the crash's header
	signal string // the fatal signal and its name, e.g. "SIGSEGV: segmentation violation"
	logged bool
}

// lineMax bounds the line kept for the crash scan: a crash's header is
// short, and a longer line is not one.
const lineMax = 256

// Go runtime crash headers: "SIGSEGV: segmentation violation" (a signal in
// non-Go code, e.g. compiled wasm), "[signal SIGSEGV: segmentation
// violation code=… addr=… pc=…]" (in Go code), "panic: …", "fatal error: …".
var (
	signalLine = regexp.MustCompile(`^\[signal (SIG[A-Z0-9]+: [a-z -]+?)(?: code=|\])|^(SIG[A-Z0-9]+: [a-z -]+)$`)
	crashLine  = regexp.MustCompile(`^(panic|fatal error): `)
)

func (t *tailBuffer) Write(p []byte) (int, error) {
	_, _ = t.tail.Write(p)
	t.mu.Lock()
	defer t.mu.Unlock()
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
			t.log.Debug("worker crashed", "crash", crash, "stderr_tail", string(t.tail.Bytes()))
		}
		return "; the worker crashed (" + untrusted.Show(crash) + "; its stack trace is in the debug log: --log-level debug)"
	}
	s := string(bytes.TrimSpace(t.tail.Bytes()))
	if s == "" {
		return ""
	}
	return "; worker said: " + untrusted.Show(s)
}
