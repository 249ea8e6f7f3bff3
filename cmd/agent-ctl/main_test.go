package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/loopback"
	"github.com/agent-ctl/agent-ctl/tests/workertest"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// asCLI, set in a re-executed test binary's environment, makes it run
// agent-ctl's CLI on its arguments instead of the tests: a test that needs
// many agent-ctl processes at once starts the test binary.
const asCLI = "AGENTCTL_TEST_AS_CLI"

// TestMain lets the test binary serve as the worker executable, and as
// agent-ctl itself (asCLI).
func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" && !protocol.IsWorker(os.Args) {
		isolation.Init()
		isolation.CloseInheritedFDs() // as main does
		os.Exit(run(context.Background(), append([]string{"agent-ctl"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	workertest.Main(m)
}

// cli runs agent-ctl in-process with a private home.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runIn(t, t.TempDir(), stdin, args...)
}

// runIn runs agent-ctl in-process with the given home.
func runIn(t *testing.T, home, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("AGENTCTL_HOME", home)
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"agent-ctl"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun(t *testing.T) {
	hello, exit := fixtures.Path("hello.wasm"), fixtures.Path("exit.wasm")
	dir := t.TempDir()
	for _, tc := range []cliCase{
		{"hello", []string{"run", "--isolation", "process", hello}, 0, "hello, world\n", ""},
		{"args after --", []string{"run", "--isolation", "process", hello, "--", "--flag-like"}, 0, "hello, --flag-like\n", ""},
		{"args without --", []string{"run", "--isolation", "process", hello, "you"}, 0, "hello, you\n", ""},
		{"exit code passes through", []string{"run", "--isolation", "process", exit, "--", "9"}, 9, "", ""},
		{"default isolation is container", []string{"run", hello}, 0, "hello, world\n", ""},
		{"process isolation says so", []string{"run", "--isolation", "process", hello}, 0, "hello, world\n", "no kernel confinement; the WASM sandbox is the only wall"},
		{"missing module", []string{"run", "--isolation", "process", "nope.wasm"}, 127, "", "module not found: nope.wasm"},
		{"not wasm", []string{"run", "--isolation", "process", fixtures.Path("notwasm.wasm")}, 126, "", "is not a WebAssembly module"},
		{"timeout", []string{"run", "--isolation", "process", "--timeout", "200ms", fixtures.Path("loop.wasm")}, 124, "", "time limit of 200ms reached"},
		{"trap", []string{"run", "--isolation", "process", fixtures.Path("trap.wasm")}, 132, "", "at inner"},
		{"memory", []string{"run", "--isolation", "process", "--memory", "2MiB", fixtures.Path("memgrow.wasm")}, 137, "", "memory limit of 2MiB reached"},
		{"output", []string{"run", "--isolation", "process", "--max-output", "1KiB", fixtures.Path("flood.wasm")}, 141, strings.Repeat(strings.Repeat("A", 63)+"\n", 16), "output limit of 1KiB reached"},
		{"no file", []string{"run"}, 125, "", "missing FILE.wasm"},
		{"bad memory", []string{"run", "--memory", "12XB", hello}, 125, "", `--memory: size "12XB"`},
		{"bad max-output", []string{"run", "--max-output", "lots", hello}, 125, "", "--max-output"},
		{"bad timeout", []string{"run", "--timeout", "soon", hello}, 125, "", `--timeout "soon"`},
		{"negative timeout", []string{"run", "--timeout", "-1s", hello}, 125, "", "positive duration"},
		{"bad isolation", []string{"run", "--isolation", "vm", hello}, 125, "", `--isolation "vm"`},
		{"container explicitly", []string{"run", "--isolation", "container", exit, "--", "4"}, 4, "", ""},
		{"missing dir", []string{"run", "--dir", "/no/such/dir:/data", hello}, 125, "", "/no/such/dir does not exist"},
		{"bad dir mode", []string{"run", "--dir", dir + ":/data:rx", hello}, 125, "", "want HOST:GUEST[:ro|rw]"},
		{"relative guest", []string{"run", "--dir", dir + ":data", hello}, 125, "", "must be absolute"},
		{"two dirs one guest", []string{"run", "--dir", dir + ":/data", "--dir", dir + ":/data:rw", hello}, 125, "", "/data is granted twice"},
		{"env not on host", []string{"run", "--env", "AGENTCTL_SURELY_UNSET", hello}, 125, "", "AGENTCTL_SURELY_UNSET is not set on the host"},
		{"unknown flag", []string{"run", "--frobnicate", hello}, 125, "", "flag provided but not defined"},
		{"bad log level", []string{"--log-level", "loud", "run", hello}, 125, "", "--log-level"},
		{"negative pool spawners", []string{"mcp", "--pool-spawners", "-1"}, 125, "", "--pool-spawners and --max-starts: want 0 (the default) or more"},
		{"negative max starts", []string{"serve", "--max-starts", "-2"}, 125, "", "--max-starts: want 0 (the default) or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "", tc.args...)
			tc.check(t, "agent-ctl", code, out, errs)
			if code >= 124 && strings.Count(strings.TrimSpace(errs), "\n") > 4 {
				t.Errorf("error message is %d lines long:\n%s", strings.Count(errs, "\n"), errs)
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic:") {
				t.Errorf("stderr shows a Go panic:\n%s", errs)
			}
		})
	}
}

func TestRun_stdinAndEnv(t *testing.T) {
	t.Setenv("AGENTCTL_TEST_PASSED", "from-host")
	code, out, _ := runCLI(t, "piped input\n", "run", "--isolation", "process", fixtures.Path("cat.wasm"))
	if code != 0 || out != "piped input\n" {
		t.Errorf("cat: exit %d stdout %q", code, out)
	}
	code, out, _ = runCLI(t, "", "run", "--isolation", "process", "--env", "AGENTCTL_TEST_PASSED", "--env", "B=1=2", fixtures.Path("env.wasm"))
	if code != 0 || out != "AGENTCTL_TEST_PASSED=from-host\nB=1=2\nenv: 2 variables\n" {
		t.Errorf("env: exit %d stdout %q", code, out)
	}
}

func TestRun_dirs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/notes.txt", []byte("granted\n"), 0o644)
	code, out, _ := runCLI(t, "", "run", "--isolation", "process", "--dir", dir+":/data", fixtures.Path("cat.wasm"), "--", "/data/notes.txt")
	if code != 0 || out != "granted\n" {
		t.Errorf("read granted file: exit %d stdout %q", code, out)
	}
	code, out, errs := runCLI(t, "", "run", "--isolation", "process", "--dir", dir+":/data", fixtures.Path("cat.wasm"), "--", "/data/../../etc/passwd")
	if code != 1 || out != "" || !strings.Contains(errs, "cat: /data/../../etc/passwd") {
		t.Errorf("escape: exit %d stdout %q stderr %q", code, out, errs)
	}
}

// TestRun_net grants one loopback port with --net: the module reaches it
// and is refused the port next to it, under the default (container)
// isolation, whose worker has no network of its own.
func TestRun_net(t *testing.T) {
	port := loopback.Listen(t, loopback.Close).Port()
	p, next := strconv.Itoa(port), strconv.Itoa(port+1)
	code, out, errs := runCLI(t, "", "run", "--net", "127.0.0.1:"+p, fixtures.Path("net.wasm"), "--", "connect", "127.0.0.1", p)
	if code != 0 || !strings.Contains(out, "connect 127.0.0.1:"+p+" OK") {
		t.Errorf("granted port: exit %d stdout %q stderr %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "", "run", "--net", "127.0.0.1:"+p, fixtures.Path("net.wasm"), "--", "connect", "127.0.0.1", next)
	if code != 1 || !strings.Contains(out, "DENIED") {
		t.Errorf("next port: exit %d stdout %q", code, out)
	}
	code, _, errs = runCLI(t, "", "run", "--net", "127.0.0.1", fixtures.Path("net.wasm"))
	if code != 125 || !strings.Contains(errs, "want HOST:PORT") {
		t.Errorf("bad --net: exit %d stderr %q", code, errs)
	}
}

// TestHelp: the app's help and a command's, each asked for as --help or
// as the help command, go to stdout with exit 0 (`agent-ctl help` alone
// answered "no tool or command named help" and 127); help for a name that
// is neither a command nor a tool is that one line and 127.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command bool // a command's help (its flags), not the app's
	}{
		{[]string{"--help"}, false},
		{[]string{"help"}, false},
		{[]string{"h"}, false},
		{[]string{"run", "--help"}, true},
		{[]string{"help", "run"}, true},
	} {
		code, out, errs := runCLI(t, "", tc.args...)
		if code != 0 || errs != "" || !strings.Contains(out, "run") || strings.Contains(out, "--dir") != tc.command ||
			strings.Contains(out, "COMMANDS:") == tc.command {
			t.Errorf("agent-ctl %q: exit %d stderr %q\n%s", tc.args, code, errs, out)
		}
	}
	code, out, errs := runCLI(t, "", "help", "nosuch")
	expect(t, "help nosuch", code, out, errs, 127, "", "agent-ctl: no tool or command named nosuch")
	if out != "" || strings.Count(errs, "\n") != 1 {
		t.Errorf("help nosuch: stdout %q stderr %q, want one line on stderr", out, errs)
	}
}

// TestUsageErrors: bad input on any command is one line on stderr that
// names the command and its help, nothing on stdout, and exit 125. grant
// and revoke with nothing to change name every flag that would change
// something (grant's message left out --confirm, which it takes); fleet
// call and fleet deploy read --nodes, --all and --label the same way
// (chooseNodes) before they dial the fleet, so a home with no controller
// gets the usage error (fleet deploy used to dial first).
func TestUsageErrors(t *testing.T) {
	hello := repoPath("modules/hello")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--bogus"}, "agent-ctl: list: flag provided but not defined: --bogus (see 'agent-ctl list --help')"},
		{[]string{"list", "-bogus"}, "list: flag provided but not defined: -bogus"},
		{[]string{"list", "--bogus=1"}, "list: flag provided but not defined: --bogus"},
		{[]string{"describe", "hello", "--bogus"}, "describe: flag provided but not defined: --bogus"},
		{[]string{"grant", "hello", "--bogus"}, "grant: flag provided but not defined: --bogus"},
		{[]string{"revoke", "hello", "--bogus"}, "revoke: flag provided but not defined: --bogus"},
		{[]string{"doctor", "--bogus"}, "doctor: flag provided but not defined: --bogus (see 'agent-ctl doctor --help')"},
		{[]string{"install", "--bogus", "dir"}, "install: flag provided but not defined: --bogus"},
		{[]string{"mcp", "config", "--bogus", "claude"}, "mcp config: flag provided but not defined: --bogus (see 'agent-ctl mcp config --help')"},
		{[]string{"run", "--frobnicate", "x.wasm"}, "run: flag provided but not defined: --frobnicate (see 'agent-ctl run --help')"},
		{[]string{"run", "--dir"}, "run: flag needs an argument: --dir"},
		{[]string{"list", "extra-arg"}, `list: unexpected argument "extra-arg"`},
		{[]string{"doctor", "extra-arg"}, `doctor: unexpected argument "extra-arg"`},
		{[]string{"token", "list", "extra-arg"}, `token list: unexpected argument "extra-arg"`},
		{[]string{"--log-level", "loud", "list"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"--log-level", "loud", "doctor"}, `--log-level "loud"`},
		{[]string{"--log-level", "loud", "describe", "hello"}, `--log-level "loud"`},
		{[]string{"sign", "dir"}, "agent-ctl: sign: missing --key (see 'agent-ctl sign --help')"},
		{[]string{"agent", "--name", "n"}, "agent-ctl: agent: missing --nats, --creds (see 'agent-ctl agent --help')"},
		{[]string{"grant", "hello"}, "grant: nothing to grant: give --dir, --env, --net, --memory, --timeout, --max-output or --confirm (see 'agent-ctl grant --help')"},
		{[]string{"grant", "hello", "--json", "--force"}, "grant: nothing to grant: give --dir"},
		{[]string{"revoke", "hello"}, "revoke: nothing to revoke: give --dir, --env, --net, --memory, --timeout, --max-output or --all (see 'agent-ctl revoke --help')"},
		{[]string{"revoke", "hello", "--json"}, "revoke: nothing to revoke: give --dir"},
		{[]string{"fleet", "call", "hello"}, "fleet call: give exactly one of --nodes, --all or --label"},
		{[]string{"fleet", "call", "--all", "--nodes", "n1", "hello"}, "fleet call: give exactly one of --nodes, --all or --label"},
		{[]string{"fleet", "call", "--nodes", "n1,N/2", "hello"}, `--nodes: invalid node name "N/2"`},
		{[]string{"fleet", "call", "--label", "role", "hello"}, `--label "role": want KEY=VALUE`},
		{[]string{"fleet", "deploy", hello}, "fleet deploy: give exactly one of --nodes, --all or --label"},
		{[]string{"fleet", "deploy", "--all", "--nodes", "n1", "--label", "a=b", hello}, "fleet deploy: give exactly one of --nodes, --all or --label"},
		{[]string{"fleet", "deploy", "--nodes", "-n1", hello}, `--nodes: invalid node name "-n1"`},
		{[]string{"fleet", "deploy", "--label", "=x", hello}, `--label "=x": want KEY=VALUE`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			wantUsageError(t, tc.args, tc.want)
		})
	}
}

// TestHelp_runExample runs the first example of 'run --help' as printed
// (from the repository's root): an example that fails teaches nothing.
func TestHelp_runExample(t *testing.T) {
	_, help, _ := runCLI(t, "", "run", "--help")
	var example []string
	for _, l := range strings.Split(help, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "agent-ctl" && f[1] == "run" && strings.HasSuffix(f[2], ".wasm") {
			example = f[2:]
			break
		}
	}
	if len(example) == 0 || !strings.HasPrefix(example[0], "modules/") {
		t.Fatalf("run --help has no example running a module of the repository:\n%s", help)
	}
	example[0] = repoPath(example[0])
	code, out, errs := runCLI(t, "", append([]string{"run", "--isolation", "process"}, example...)...)
	expect(t, "agent-ctl run "+strings.Join(example, " "), code, out, errs, 0, "hello, world\n", "")
}

// TestRun_timeoutCoversCompile: `run --timeout` bounds the whole call, as
// `timeout 2s wasmtime run` would: a Go module that compiles for about a
// second in a fresh home stops at 200ms with 124, while it compiles, so no
// compiled code reaches the cache (with the limit on the run alone, the
// compile finished and was cached before the run began).
func TestRun_timeoutCoversCompile(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "run", "--isolation", "process", "--timeout", "200ms",
		repoPath("modules/hello/hello-go.wasm"))
	if code != 124 || out != "" || !strings.Contains(errs, "time limit of 200ms reached") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 124 and the time limit named", code, out, errs)
	}
	if cached, _ := filepath.Glob(filepath.Join(home, "cache", "*.cwasm")); len(cached) > 0 {
		t.Errorf("the compile went on past the time limit: %v cached", cached)
	}
}
