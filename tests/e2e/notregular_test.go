//go:build unix

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestNotRegular: agent-ctl refuses a named pipe where it reads a file a
// module author, an archive or the user names, at once, with the file and
// what it is, and exits non-zero. Before, `install DIR` with a named pipe
// for its manifest (and the others here) blocked in open(2) for good, and
// ignored SIGTERM: each case ran into the 60 s context.
func TestNotRegular(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup makes the named pipe in dir (via testutil.Place) and
		// returns the arguments.
		setup func(t *testing.T, dir string, fifo testutil.Special) []string
		want  string
	}{
		{"install, manifest.json a fifo", func(t *testing.T, dir string, fifo testutil.Special) []string {
			copyFile(t, fixtures.Path("hello.wasm"), filepath.Join(dir, "module.wasm"))
			testutil.Place(t, fifo, filepath.Join(dir, "manifest.json"))
			return []string{"install", "--yes", dir}
		}, "manifest.json is a named pipe, not a regular file"},
		{"install, the archive a fifo", func(t *testing.T, dir string, fifo testutil.Special) []string {
			testutil.Place(t, fifo, filepath.Join(dir, "tool.tar.gz"))
			return []string{"install", "--yes", filepath.Join(dir, "tool.tar.gz")}
		}, "tool.tar.gz is a named pipe, not a regular file"},
		{"validate, manifest.json a fifo", func(t *testing.T, dir string, fifo testutil.Special) []string {
			testutil.Place(t, fifo, filepath.Join(dir, "manifest.json"))
			return []string{"validate", dir}
		}, "manifest.json is a named pipe, not a regular file"},
		{"run, the module a fifo", func(t *testing.T, dir string, fifo testutil.Special) []string {
			testutil.Place(t, fifo, filepath.Join(dir, "m.wasm"))
			return []string{"run", "--isolation", "process", filepath.Join(dir, "m.wasm")}
		}, "m.wasm is a named pipe, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := tc.setup(t, dir, testutil.Specials(t, t.TempDir())[0])
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("agent-ctl %s still running after 60 s (killed); output:\n%s", strings.Join(args, " "), out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(string(out), tc.want) {
				t.Fatalf("agent-ctl %s: %v, want a non-zero exit saying %q; output:\n%s", strings.Join(args, " "), err, tc.want, out)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
