package main

import (
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestWorkerIDFlag: --worker-id reaches container isolation and doctor,
// which refuse an ID a host user has (nobody, 65534, on Debian) and one
// that cannot be a worker's.
func TestWorkerIDFlag(t *testing.T) {
	hello := fixtures.Path("hello.wasm")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"a host user's ID", []string{"--worker-id", "65534", "run", hello}, 125, "worker host uid 65534 is nobody's"},
		{"zero", []string{"--worker-id", "0", "run", hello}, 125, "want a user ID from 1"},
		{"doctor", []string{"--worker-id", "65534", "doctor"}, 1, "the default isolation cannot run on this host"},
		{"free", []string{"--worker-id", "2415919105", "run", hello}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The flag is put in the environment: restore it afterwards.
			t.Setenv(isolation.WorkerIDEnv, "")
			code, out, errs := runCLI(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.stderr) {
				t.Fatalf("agent-ctl %q: exit %d, stdout %q, stderr %q; want exit %d, stderr containing %q",
					tc.args, code, out, errs, tc.code, tc.stderr)
			}
			if tc.name == "doctor" && !strings.Contains(out, "worker host IDs") {
				t.Errorf("doctor does not report the worker host IDs:\n%s", out)
			}
		})
	}
}
