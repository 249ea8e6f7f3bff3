//go:build unix

package supervisor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// TestResult_hostileText: text a module controls (a function's name in its
// name section, an import's name, a panic line on its stderr) carries
// terminal escape sequences; the Result and the error Invoke returns show
// them escaped, with no control byte left for a terminal to act on, while
// the module's own stderr is forwarded as it wrote it.
func TestResult_hostileText(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		for _, tc := range []struct {
			module  string
			outcome supervisor.Outcome
			invalid bool   // Invoke refuses the module
			want    string // in Describe(), or in the error
			stderr  string // forwarded unchanged
		}{
			{module: "hostiletrap.wasm", outcome: supervisor.Trapped,
				want: `at \x1b[2J\x1b]0;pwned\aevil\r\u202e @ 0x`},
			{module: "hostilepanic.wasm", outcome: supervisor.Exited,
				want:   `panicked: \x1b]52;c;cHduZWQ=\a\x1b[2Jfake\rline (exit code 2)`,
				stderr: "panic: \x1b]52;c;cHduZWQ=\x07\x1b[2Jfake\rline\n"},
			{module: "hostileimport.wasm", invalid: true,
				want: `imports env::\x1b[2J, which agent-ctl does not provide`},
		} {
			t.Run(tc.module, func(t *testing.T) {
				res, _, stderr, err := invoke(t, s, supervisor.Call{Module: tc.module})
				var text string
				switch {
				case tc.invalid:
					if !errors.Is(err, supervisor.ErrModuleInvalid) {
						t.Fatalf("err = %v, want ErrModuleInvalid", err)
					}
					text = err.Error()
				case err != nil:
					t.Fatal(err)
				default:
					if res.Outcome != tc.outcome {
						t.Fatalf("outcome %v, want %v: %s", res.Outcome, tc.outcome, res.Describe())
					}
					text = res.Describe()
					for _, f := range append([]string{res.Trap, res.Message, res.Panic}, res.Frames...) {
						checkNoControl(t, f)
					}
				}
				checkNoControl(t, text)
				if !strings.Contains(text, tc.want) {
					t.Errorf("got %q, want it to hold %q", text, tc.want)
				}
				if stderr != tc.stderr {
					t.Errorf("stderr %q, want %q as the module wrote it", stderr, tc.stderr)
				}
			})
		}
	})
}

// checkNoControl fails t if s holds a C0 control byte (newline excepted:
// Describe puts frames on lines of their own) or DEL.
func checkNoControl(t *testing.T, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n') || c == 0x7f {
			t.Errorf("%q holds control byte 0x%02x at %d", s, c, i)
			return
		}
	}
}
