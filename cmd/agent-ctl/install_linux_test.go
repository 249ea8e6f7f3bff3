package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/testutil"

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
	var both testutil.SyncBuffer
	code := run(context.Background(), []string{"agent-ctl", "install", "--isolation", "process", catModule(t, data)}, tty, &both, &both)
	out := both.String()
	ask, compile, granted := strings.Index(out, "grant all of these? [y/N]"), strings.Index(out, "agent-ctl: compiling catdata...\n"), strings.Index(out, "\ngranted\n")
	if code != 0 || ask < 0 || compile < 0 || granted < 0 || !(ask < compile && compile < granted) || !strings.Contains(out, "agent-ctl: compiling catdata: done in ") {
		t.Fatalf("install on a terminal: exit %d, want the question, then the compile's progress, then the grant:\n%s", code, out)
	}
	code, out, errs := runIn(t, home, "", "describe", "catdata")
	expect(t, "granted by the answer", code, out, errs, 0, "files: "+data+" at /data (ro)", "")
}

// TestList_width: list has a header row; on a terminal each line is cut to
// its width, and elsewhere (a pipe, a file) lines stay whole.
func TestList_width(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", "--isolation", "process", catModule(t, t.TempDir()))
	expect(t, "install", code, out, errs, 0, "installed catdata", "")
	const row = "catdata              0.1.0      "
	code, out, errs = runIn(t, home, "", "list")
	expect(t, "list to a pipe", code, out, errs, 0, "NAME                 VERSION    DIGEST       DESCRIPTION\n"+row, "")
	if !strings.Contains(out, " prints a file of the granted /data\n") {
		t.Errorf("list to a pipe cut a line:\n%s", out)
	}

	tty, term := openPTY(t)
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 60}); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"agent-ctl", "list"}, strings.NewReader(""), tty, &errb); code != 0 {
		t.Fatalf("list on a terminal: exit %d, stderr %q", code, errb.String())
	}
	buf := make([]byte, 4096)
	term.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got []byte
	for strings.Count(string(got), "\n") < 2 {
		n, err := term.Read(buf)
		if err != nil {
			t.Fatalf("reading the terminal: %v (so far %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	lines := strings.Split(strings.ReplaceAll(string(got), "\r\n", "\n"), "\n")
	if want := "catdata              0.1.0      "; !strings.HasPrefix(lines[1], want) || !strings.HasSuffix(lines[1], " prints a file …") || len([]rune(lines[1])) != 60 {
		t.Errorf("list on a 60-column terminal: line %q (%d columns), want it cut to 60 ending in …", lines[1], len([]rune(lines[1])))
	}
}
