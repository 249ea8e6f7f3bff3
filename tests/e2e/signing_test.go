//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// withStdin runs name with stdin and returns its combined output.
func withStdin(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

// TestSigning_encryptedKeys checks password-protected minisign keys both
// ways with the real minisign tool and the built binary (not in-process:
// each of the four scrypt runs costs seconds of CPU and 1 GiB, minutes
// under the race detector; the test took 4-5 minutes on a loaded 2-core
// machine). A key
// made by minisign -G signs through agent-ctl sign --password-file, and
// minisign -V verifies; a key made by agent-ctl key generate signs through
// minisign -S, and agent-ctl install verifies.
func TestSigning_encryptedKeys(t *testing.T) {
	tool := testutil.MinisignTool(t)
	home := t.TempDir()
	keys := t.TempDir()
	pwFile := filepath.Join(keys, "password")
	os.WriteFile(pwFile, []byte("correct horse\n"), 0o600)
	agentCtl(t, home, "trust", "require", "on")

	// minisign's key, agent-ctl's signature.
	mPub, mSec := filepath.Join(keys, "m.pub"), filepath.Join(keys, "m.key")
	withStdin(t, "correct horse\ncorrect horse\n", tool, "-G", "-p", mPub, "-s", mSec)
	dir := fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object"}`)
	out, err := exec.Command(bin, "--home", home, "sign", dir, "--key", mSec).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--password-file") {
		t.Fatalf("sign with an encrypted key and no password source: %v\n%s", err, out)
	}
	agentCtl(t, home, "sign", dir, "--key", mSec, "--password-file", pwFile)
	for _, f := range []string{"manifest.json", "hello.wasm"} {
		withStdin(t, "", tool, "-V", "-H", "-p", mPub, "-m", filepath.Join(dir, f))
	}
	agentCtl(t, home, "trust", "add", mPub, "--name", "minisign-made")
	if out := agentCtl(t, home, "install", "--isolation", "process", dir); !strings.Contains(out, "signed by minisign-made") {
		t.Errorf("install of a module signed with minisign's key:\n%s", out)
	}

	// agent-ctl's key (password on stdin), minisign's signatures.
	aPub, aSec := filepath.Join(keys, "a.pub"), filepath.Join(keys, "a.key")
	withStdin(t, "correct horse\n", bin, "--home", home, "key", "generate", "--password-file", "-", "--secret", aSec, "--public", aPub)
	dir = fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object"}`)
	withStdin(t, "correct horse\n", tool, "-S", "-s", aSec, "-m", filepath.Join(dir, "manifest.json"), filepath.Join(dir, "hello.wasm"))
	agentCtl(t, home, "trust", "add", aPub, "--name", "agent-ctl-made")
	if out := agentCtl(t, home, "install", "--isolation", "process", dir); !strings.Contains(out, "signed by agent-ctl-made") {
		t.Errorf("install of a module minisign signed with agent-ctl's key:\n%s", out)
	}
}
