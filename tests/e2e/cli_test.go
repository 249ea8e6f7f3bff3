//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIMessages runs the real binary through the messages issue 16 lists:
// help, an unknown command, an uninstalled tool (127), a tool whose
// manifest is damaged (126, the load error), a damaged policy.json (125),
// global flags before a tool's name, and bad input to agent-ctl's own
// commands: each error is one line on stderr, nothing on stdout.
func TestCLIMessages(t *testing.T) {
	install := func() string {
		t.Helper()
		home := t.TempDir()
		out, err := exec.Command(bin, "--home", home, "install", "--isolation", "process", "../../modules/hello").CombinedOutput()
		if err != nil {
			t.Fatalf("install: %v\n%s", err, out)
		}
		return home
	}
	good, brokenManifest, brokenPolicy, empty := install(), install(), install(), t.TempDir()
	version, err := filepath.EvalSymlinks(filepath.Join(brokenManifest, "modules", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(version, "manifest.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(brokenPolicy, "policy.json"), []byte(`{"tools": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		home   string
		args   []string
		code   int
		stdout string // a substring; "" means nothing at all
		stderr string // a substring of its one line; "" means nothing at all
	}{
		{"help", good, []string{"help"}, 0, "COMMANDS:", ""},
		{"help run", good, []string{"help", "run"}, 0, "--dir HOST:GUEST", ""},
		{"help lists tools", good, []string{"help"}, 0, "installed tools:", ""},
		{"unknown command", good, []string{"nosuchcmd"}, 127, "", "agent-ctl: no tool or command named nosuchcmd (see 'agent-ctl --help'"},
		{"uninstalled tool", empty, []string{"hello"}, 127, "", "agent-ctl: no tool or command named hello"},
		{"damaged manifest", brokenManifest, []string{"hello"}, 126, "", "loading tool hello: installed files damaged: "},
		{"damaged policy", brokenPolicy, []string{"hello"}, 125, "", "policy.json is not valid"},
		{"global flags once", empty, []string{"--log-level", "debug", "--home", good, "hello", "--name", "x"}, 0, "hello, x\n", "cache_hit=true"},
		{"list --bogus", good, []string{"list", "--bogus"}, 125, "", "agent-ctl: list: flag provided but not defined: --bogus (see 'agent-ctl list --help')"},
		{"describe --bogus", good, []string{"describe", "hello", "--bogus"}, 125, "", "describe: flag provided but not defined: --bogus"},
		{"grant --bogus", good, []string{"grant", "hello", "--bogus"}, 125, "", "grant: flag provided but not defined: --bogus"},
		{"doctor --bogus", good, []string{"doctor", "--bogus"}, 125, "", "doctor: flag provided but not defined: --bogus"},
		{"tool --bogus", good, []string{"hello", "--bogus"}, 125, "", "hello: flag provided but not defined: --bogus"},
		{"list extra-arg", good, []string{"list", "extra-arg"}, 125, "", `list: unexpected argument "extra-arg"`},
		{"log level loud", good, []string{"--log-level", "loud", "list"}, 125, "", `--log-level "loud": want debug, info, warn or error`},
		{"empty grant", good, []string{"grant", "hello"}, 125, "", "grant: nothing to grant"},
		{"empty revoke", good, []string{"revoke", "hello"}, 125, "", "revoke: nothing to revoke"},
		{"unasked grant", good, []string{"grant", "hello", "--dir", "/etc:/etc"}, 125, "", "asks for no directory at /etc"},
		{"install bad isolation", empty, []string{"install", "--isolation", "vm", "../../modules/hello"}, 125, "", `install: --isolation "vm"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+tc.home)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if code < 0 {
				t.Fatalf("agent-ctl %q: %v", tc.args, err)
			}
			out, errs := stdout.String(), stderr.String()
			okOut := tc.stdout == "" && out == "" || tc.stdout != "" && strings.Contains(out, tc.stdout)
			okErr := tc.stderr == "" && errs == "" || tc.stderr != "" && strings.Contains(errs, tc.stderr)
			if code != tc.code || !okOut || !okErr {
				t.Fatalf("agent-ctl %q: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout %q, stderr %q", tc.args, code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
			if code >= 124 && strings.Count(errs, "\n") != 1 {
				t.Errorf("agent-ctl %q: the error is %d lines, want one:\n%s", tc.args, strings.Count(errs, "\n"), errs)
			}
		})
	}
}
