package main

import (
	"os"
	"strings"
	"testing"
)

// cliCase is one row of a table of agent-ctl calls: the arguments, the
// exit code and stdout expected exactly, and a substring of stderr.
type cliCase struct {
	name   string
	args   []string
	code   int
	stdout string // exact
	stderr string // substring
}

// check fails t unless a call of tc's arguments exited with code and
// wrote out and errs as tc expects; what names the command called.
func (tc cliCase) check(t *testing.T, what string, code int, out, errs string) {
	t.Helper()
	if code != tc.code || out != tc.stdout || !strings.Contains(errs, tc.stderr) {
		t.Fatalf("%s %q\n got exit %d stdout (%d bytes) %q stderr %q\nwant exit %d stdout %q stderr containing %q",
			what, tc.args, code, len(out), clip(out), errs, tc.code, clip(tc.stdout), tc.stderr)
	}
}

// clip shortens an output for a failure message: fetch's run to a MiB.
func clip(s string) string {
	const most = 2000
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}

// wantUsageError runs agent-ctl with args and a fresh home, and fails t
// unless it exits 125 with nothing on stdout and one line of stderr that
// contains want.
func wantUsageError(t *testing.T, args []string, want string) {
	t.Helper()
	code, out, errs := runIn(t, t.TempDir(), "", args...)
	if code != 125 || out != "" || !strings.Contains(errs, want) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("agent-ctl %q: exit %d\nstdout %q\nstderr %q\nwant exit 125, no stdout, one line containing %q", args, code, out, errs, want)
	}
}

// readRepoFile reads the repository's file p (relative to its root),
// failing t if it cannot.
func readRepoFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
