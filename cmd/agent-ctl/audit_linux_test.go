package main

import (
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestAudit_unrecordable: a call whose audit log cannot be written (a
// read-only audit directory, a full disk) is refused before its module
// runs, with a message that says why; --no-audit runs it.
func TestAudit_unrecordable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"read-only audit directory", func(t *testing.T) string {
			// Made read-only after a first call: its files exist.
			home := t.TempDir()
			code, out, errs := runIn(t, home, "", "run", "--isolation", "process", fixtures.Path("hello.wasm"))
			expect(t, "first call", code, out, errs, 0, "hello, world\n", "")
			testutil.ReadOnlyBind(t, supervisor.AuditDir(home))
			return home
		}, "read-only file system"},
		{"full disk", func(t *testing.T) string {
			// Less than the room the log asks for before a call.
			return tmpfsHome(t, "512k")
		}, "no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := tc.setup(t)
			code, out, errs := runIn(t, home, "", "run", "--isolation", "process", fixtures.Path("hello.wasm"), "--", "ran")
			expect(t, "call", code, out, errs, 125, "", "recording the call in the audit log: audit log not writable")
			if out != "" || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "the call was not run") {
				t.Errorf("stdout %q stderr %q: want no output, and %q and that the call was not run", out, errs, tc.want)
			}
			code, out, errs = runIn(t, home, "", "--no-audit", "run", "--isolation", "process", fixtures.Path("hello.wasm"), "--", "ran")
			expect(t, "call with --no-audit", code, out, errs, 0, "hello, ran\n", "")
		})
	}
}
