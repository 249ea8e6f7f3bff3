package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal's two ends: what agent-ctl sees as
// its terminal (the replica), and the side that types into it.
func openPTY(t *testing.T) (tty, typist *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, m
}

// lockedBuffer takes stdout and stderr both, in the order they were written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestInstall_asksBeforeCompiling: on a terminal, install asks its question
// before it compiles, so the operator answers and can walk away; the
// compile shows a progress line on stderr, and the answer is then applied.
func TestInstall_asksBeforeCompiling(t *testing.T) {
	home, data := t.TempDir(), t.TempDir()
	tty, typist := openPTY(t)
	if _, err := typist.WriteString("y\n"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENTCTL_HOME", home)
	var both lockedBuffer
	code := run(context.Background(), []string{"agent-ctl", "install", "--isolation", "process", catModule(t, data)}, tty, &both, &both)
	out := both.b.String()
	ask, compile, granted := strings.Index(out, "grant all of these? [y/N]"), strings.Index(out, "agent-ctl: compiling catdata...\n"), strings.Index(out, "\ngranted\n")
	if code != 0 || ask < 0 || compile < 0 || granted < 0 || !(ask < compile && compile < granted) || !strings.Contains(out, "agent-ctl: compiling catdata: done in ") {
		t.Fatalf("install on a terminal: exit %d, want the question, then the compile's progress, then the grant:\n%s", code, out)
	}
	code, out, errs := runIn(t, home, "", "describe", "catdata")
	expect(t, "granted by the answer", code, out, errs, 0, "files: "+data+" at /data (ro)", "")
}
