//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
	"golang.org/x/sys/unix"
)

// TestSignals_stuck: a command stuck where its cancelled context does not
// reach still ends on SIGTERM: `token create` waits for the token file's
// lock, which this test holds (flock waits through signals). A second
// signal ends it at once; a lone one once cliapp.StopGrace (15 s) has
// passed, saying so. Before, the lone SIGTERM did nothing: the command
// ran into the test's 60 s context.
func TestSignals_stuck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		second  bool
		codes   []int
		saysWhy bool // "still running … exiting" on stderr
	}{
		// SIGINT after SIGTERM: two pending signals of one kind are one.
		{"SIGTERM then SIGINT", true, []int{130, 143}, false},
		{"SIGTERM alone", false, []int{143}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			lock, err := os.OpenFile(filepath.Join(home, "tokens.json.lock"), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Close()
			if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Fstat(int(lock.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "token", "create", "stuck")
			cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+home)
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			testutil.Eventually(t, 30*time.Second, func() bool { return waitsOnLock(st.Ino) },
				"agent-ctl token create is not waiting for the lock; stderr:\n%s", stderr.String())
			start := time.Now()
			cmd.Process.Signal(syscall.SIGTERM)
			if tc.second {
				// Sent once the first is no longer pending, so that
				// both reach agent-ctl's handler.
				testutil.Eventually(t, 30*time.Second, func() bool { return !pending(cmd.Process.Pid, syscall.SIGTERM) },
					"SIGTERM still pending")
				cmd.Process.Signal(syscall.SIGINT)
			}
			err = cmd.Wait()
			if ctx.Err() != nil {
				t.Fatalf("agent-ctl still running 60 s after the signal (killed); stderr:\n%s", stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !slices.Contains(tc.codes, ee.ExitCode()) {
				t.Fatalf("%v, want exit %v; stderr:\n%s", err, tc.codes, stderr.String())
			}
			if says := strings.Contains(stderr.String(), "still running"); says != tc.saysWhy {
				t.Errorf("stderr says why it exits: %v, want %v; stderr:\n%s", says, tc.saysWhy, stderr.String())
			}
			t.Logf("exited %v after the first signal", time.Since(start).Round(time.Millisecond))
		})
	}
}

// waitsOnLock reports whether some process waits for a lock on the file
// with inode ino: /proc/locks lists a waiter with "->".
func waitsOnLock(ino uint64) bool {
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[1] == "->" && strings.HasSuffix(f[6], ":"+strconv.FormatUint(ino, 10)) {
			return true
		}
	}
	return false
}

// pending reports whether sig is pending for process pid (its shared
// pending set, where a signal sent to the process waits).
func pending(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
