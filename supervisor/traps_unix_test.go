//go:build unix

package supervisor_test

import (
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// TestTraps_panicsAndLines: behind either wall, a module built with debug
// information traps with source lines in its frames, and a Rust or Go
// module that panics is reported as panicked, with the panic's words.
func TestTraps_panicsAndLines(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		for _, tc := range []struct {
			module  string
			args    []string
			outcome supervisor.Outcome
			code    int
			panic   string
			frame   string // one of the frames
		}{
			{module: "linetrap.wasm", outcome: supervisor.Trapped, code: 0,
				frame: "divide (linetrap.c:12:11) @ 0x"},
			{module: "rtrap.wasm", outcome: supervisor.Trapped, code: 0,
				panic: "panicked at 'attempt to divide by zero', rtrap.rs:8:5", frame: "rtrap::divide (rtrap.rs:8:5) @ 0x"},
			{module: "gopanic.wasm", outcome: supervisor.Exited, code: 2,
				panic: "panicked: runtime error: index out of range [3] with length 3"},
			// No panic: its own exit code, nothing said.
			{module: "rtrap.wasm", args: []string{"x"}, outcome: supervisor.Exited, code: 7},
		} {
			t.Run(tc.module+strings.Join(tc.args, " "), func(t *testing.T) {
				res, _, _, err := invoke(t, s, supervisor.Call{Module: tc.module, Args: tc.args})
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tc.outcome || res.ExitCode != tc.code || res.Panic != tc.panic {
					t.Fatalf("outcome %v exit %d panic %q, want %v exit %d panic %q; %s",
						res.Outcome, res.ExitCode, res.Panic, tc.outcome, tc.code, tc.panic, res.Describe())
				}
				if tc.frame != "" && !strings.Contains(strings.Join(res.Frames, "\n"), tc.frame) {
					t.Errorf("frames %q, want one starting %q", res.Frames, tc.frame)
				}
				d := res.Describe()
				if tc.panic != "" && !strings.HasPrefix(d, res.Module+": "+tc.panic) {
					t.Errorf("Describe() = %q, want it to start with the panic", d)
				}
				if tc.panic == "" && tc.outcome == supervisor.Exited && d != "" {
					t.Errorf("Describe() = %q for a module that exited on its own", d)
				}
			})
		}
	})
}
