//go:build unix

package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestHostileNames runs the real binary on modules whose function names,
// import names and panic line carry terminal escape sequences (clear the
// screen, set the window title, write the clipboard with OSC 52, a carriage
// return, a bidi override): agent-ctl's own messages on stderr show them
// escaped and hold no raw control byte, while what the module itself wrote
// to stderr comes first, unchanged.
func TestHostileNames(t *testing.T) {
	// A tool directory around hostileimport.wasm, for validate.
	tool := t.TempDir()
	manifest := `{"name": "hostile", "version": "1.0.0", "description": "imports names with escapes", "module": "hostileimport.wasm", "inputSchema": {"type": "object"}}`
	if err := os.WriteFile(filepath.Join(tool, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fixtures.Path("hostileimport.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tool, "hostileimport.wasm"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		module string   // what the module wrote to stderr, first
		want   []string // in agent-ctl's messages after it
	}{
		{"trap frame", []string{"run", fixtures.Path("hostiletrap.wasm")}, 132, "",
			[]string{`    at \x1b[2J\x1b]0;pwned\aevil\r\u202e @ 0x`}},
		{"import at run", []string{"run", fixtures.Path("hostileimport.wasm")}, 126, "",
			[]string{`module imports env::\x1b[2J, which agent-ctl does not provide`}},
		{"import at validate", []string{"validate", tool}, 126, "",
			[]string{`imports env::\x1b[2J (func)`, `imports agent_ctl::\x1b]52;c;cHduZWQ=\a, which`}},
		{"panic line", []string{"run", fixtures.Path("hostilepanic.wasm")}, 2,
			"panic: \x1b]52;c;cHduZWQ=\x07\x1b[2Jfake\rline\n",
			[]string{`panicked: \x1b]52;c;cHduZWQ=\a\x1b[2Jfake\rline (exit code 2)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--home", t.TempDir()}, tc.args...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			own, ok := strings.CutPrefix(stderr.String(), tc.module)
			if !ok {
				t.Fatalf("stderr %q, want it to start with the module's %q unchanged", stderr.String(), tc.module)
			}
			for i := 0; i < len(own); i++ {
				if c := own[i]; (c < 0x20 && c != '\n') || c == 0x7f {
					t.Fatalf("agent-ctl's messages %q hold control byte 0x%02x at %d", own, c, i)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(own, w) {
					t.Errorf("agent-ctl's messages %q, want them to hold %q", own, w)
				}
			}
		})
	}
}
