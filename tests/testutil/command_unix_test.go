//go:build unix

package testutil

import (
	"bufio"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"testing"
)

// TestStartPiped: the pipes asked for carry the command's streams, the
// others are nil, and the command is killed and reaped when the test ends.
func TestStartPiped(t *testing.T) {
	var pid int
	t.Run("piped", func(t *testing.T) {
		// cat echoes stdin to stdout, and then sleeps to keep it from ending by
		// itself before the cleanup.
		cmd := exec.Command("sh", "-c", "cat; exec sleep 600")
		p := StartPiped(t, cmd, Pipes{Stdin: true, Stdout: true})
		pid = cmd.Process.Pid
		if p.Stdin == nil || p.Stdout == nil || p.Stderr != nil {
			t.Fatalf("pipes %+v, want stdin and stdout only", p)
		}
		if _, err := io.WriteString(p.Stdin, "ping\n"); err != nil {
			t.Fatal(err)
		}
		p.Stdin.Close()
		if line, err := bufio.NewReader(p.Stdout).ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("read back %q, %v; want %q", line, err, "ping\n")
		}
	})
	// Reaped by the subtest's cleanup: not even a zombie is left.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after the test: %v, want ESRCH", pid, err)
	}
}
