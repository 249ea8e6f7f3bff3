package testutil

import (
	"os/exec"
	"testing"
)

// MinisignTool is the path of the minisign tool, the reference the
// signature tests check agent-ctl's signatures against; the test is
// skipped, saying why, where it is missing (the Makefile's deps target
// installs it).
func MinisignTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("minisign")
	if err != nil {
		t.Skip("the minisign tool is not installed (make deps installs it)")
	}
	return p
}
