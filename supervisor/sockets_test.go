//go:build unix

package supervisor_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// holdWorkerEnv, in a re-executed test binary's environment, makes it a
// supervisor of the home it names that starts a call of cat.wasm, says
// "ready" once the worker echoes a line, and waits to be killed.
const (
	holdWorkerEnv    = "AGENTCTL_TEST_HOLD_WORKER"
	holdIsolationEnv = "AGENTCTL_TEST_HOLD_ISOLATION"
)

// echoed reports the first line the module writes.
type echoed chan string

func (e echoed) Write(p []byte) (int, error) {
	select {
	case e <- string(p):
	default:
	}
	return len(p), nil
}

func holdWorker(home string, iso policies.Isolation) int {
	s, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stdin, feed := io.Pipe()
	out := make(echoed, 1)
	go func() {
		_, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("cat.wasm"),
			Policy: policies.Policy{Isolation: iso, Timeout: 10 * time.Minute}, Stdin: stdin, Stdout: out})
		fmt.Fprintln(os.Stderr, "call ended:", err)
		os.Exit(1)
	}()
	fmt.Fprintln(feed, "alive")
	<-out
	fmt.Println("ready")
	select {}
}

// pluginDirs lists go-plugin's socket directories under the state
// directory's call directories and in tmp.
func pluginDirs(home, tmp string) []string {
	var all []string
	for _, pattern := range []string{
		filepath.Join(home, "tmp", "*", "plugin-dir*"),
		filepath.Join(tmp, "agent-ctl-*", "*", "plugin-dir*"),
		filepath.Join(tmp, "plugin-dir*"),
	} {
		m, _ := filepath.Glob(pattern)
		all = append(all, m...)
	}
	return all
}

// TestSupervisor_killedLeavesNoSocketDirs kills a supervisor (SIGKILL)
// while its worker runs a call, starts another supervisor on the same
// state directory and checks that no go-plugin socket directory is left,
// neither under the state directory nor in the killed one's TMPDIR (where
// go-plugin made them before, and nothing swept them). A state directory
// too long for a socket path under it has them in a directory of its own
// in TMPDIR, swept as well.
func TestSupervisor_killedLeavesNoSocketDirs(t *testing.T) {
	for _, tc := range []struct {
		name string
		home string // under a short temporary directory
		want string // where the socket directory is while the worker runs
	}{
		{"short home", "h", "h/tmp/call-*-s*/plugin-dir*"},
		{"long home", strings.Repeat("h", 64), fmt.Sprintf("agent-ctl-%d/call-*-s*/plugin-dir*", os.Getuid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			both(t, func(t *testing.T, iso policies.Isolation) {
				// Short: a socket's path must fit in 107 bytes.
				tmp, err := os.MkdirTemp("", "ac")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(tmp) })
				t.Setenv("TMPDIR", tmp) // for the sweeping supervisor below, as for the killed one
				home := filepath.Join(tmp, tc.home)
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), holdWorkerEnv+"="+home, holdIsolationEnv+"="+string(iso))
				cmd.Stderr = os.Stderr
				stdout := testutil.StartPiped(t, cmd, testutil.Pipes{Stdout: true}).Stdout
				ready := make(chan string, 1)
				go func() {
					line, _ := bufio.NewReader(stdout).ReadString('\n')
					ready <- line
				}()
				select {
				case line := <-ready:
					if strings.TrimSpace(line) != "ready" {
						t.Fatalf("helper supervisor said %q", line)
					}
				case <-time.After(2 * time.Minute):
					t.Fatal("the helper supervisor's worker did not echo within 2 minutes")
				}
				// Else the check below could not fail.
				if dirs, _ := filepath.Glob(filepath.Join(tmp, tc.want)); len(dirs) != 1 {
					t.Fatalf("socket directories while a worker runs: %v, want one at %s", pluginDirs(home, tmp), tc.want)
				}
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				cmd.Wait()

				s, err := supervisor.New(&supervisor.Options{Home: home})
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				if left := pluginDirs(home, tmp); len(left) != 0 {
					t.Errorf("socket directories left after the supervisor was killed and another started: %v", left)
				}
			})
		})
	}
}
