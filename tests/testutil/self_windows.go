package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// StartSelf starts the test binary again as a helper process (the go-plugin
// TestHelperProcess pattern), with env as its whole environment apart from
// SYSTEMROOT, which Go programs need on Windows. It returns the process
// and the first line the helper printed, which tells that it is ready; the
// process is killed and reaped when the test ends.
func StartSelf(t testing.TB, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(env, "SYSTEMROOT="+os.Getenv("SYSTEMROOT"))
	stdout := StartPiped(t, cmd, Pipes{Stdout: true}).Stdout
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's first line: %v (read %q)", err, line)
	}
	return cmd, line
}
