package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestInstall_flagsCheckedFirst: a bad --isolation or --compile-timeout is
// refused before anything is installed (--isolation vm installed the tool,
// exit 0, and only warned that it could not be precompiled).
func TestInstall_flagsCheckedFirst(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--isolation", "vm"}, `install: --isolation "vm"`},
		{[]string{"--compile-timeout", "soon"}, `install: --compile-timeout "soon": want a positive duration`},
		{[]string{"--compile-timeout", "0s"}, `install: --compile-timeout "0s"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			home := t.TempDir()
			code, out, errs := runIn(t, home, "", append(append([]string{"install"}, tc.args...), repoPath("modules/hello"))...)
			expect(t, "install", code, out, errs, 125, "", tc.want)
			if out != "" || strings.Count(errs, "\n") != 1 {
				t.Errorf("stdout %q stderr %q, want one line on stderr", out, errs)
			}
			code, out, errs = runIn(t, home, "", "list")
			expect(t, "list", code, out, errs, 0, "no tools installed", "")
		})
	}
}

// TestInstall_compileTimeout: install's --compile-timeout bounds the
// precompile: a Go module that compiles for about a second stays
// installed, not precompiled (a warning says so, nothing is cached), and
// its first call compiles it under the supervisor's own limit.
func TestInstall_compileTimeout(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	m := readRepoFile(t, "modules/hello/manifest.json")
	wasm := readRepoFile(t, "modules/hello/hello-go.wasm")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(strings.Replace(string(m), `"hello.wasm"`, `"hello-go.wasm"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello-go.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runIn(t, home, "", "install", "--isolation", "process", "--compile-timeout", "100ms", dir)
	expect(t, "install", code, out, errs, 0, "installed hello 1.0.0", "agent-ctl: warning: hello: not precompiled, the first call will compile it: ")
	if !strings.Contains(errs, "took longer than 100ms") {
		t.Errorf("the warning does not name the limit: %q", errs)
	}
	if cached, _ := filepath.Glob(filepath.Join(home, "cache", "*.cwasm")); len(cached) > 0 {
		t.Errorf("the compile went on past --compile-timeout: %v cached", cached)
	}
	code, out, errs = runIn(t, home, "", "hello", "--name", "go")
	expect(t, "first call", code, out, errs, 0, "hello, go\n", "")
}

// TestStdin_CLI: on the command line a tool reads agent-ctl's stdin, and
// describe shows a manifest's stdin declaration, in text and in JSON.
func TestStdin_CLI(t *testing.T) {
	home := t.TempDir()
	dir := fixtures.ToolDir(t, "echo", "cat.wasm", `"inputSchema": {"type": "object"}, "stdin": {"description": "the text to print"}`)
	code, out, errs := runIn(t, home, "", "install", "--isolation", "process", dir)
	expect(t, "install", code, out, errs, 0, "installed echo", "")
	code, out, errs = runIn(t, home, "piped to the tool\n", "echo")
	expect(t, "call", code, out, errs, 0, "piped to the tool\n", "")
	code, out, errs = runIn(t, home, "", "describe", "echo")
	expect(t, "describe", code, out, errs, 0, "  stdin: the text to print (over MCP: the input parameter)\n", "")
	code, out, errs = runIn(t, home, "", "describe", "echo", "--json")
	expect(t, "describe --json", code, out, errs, 0, `"stdin": {
    "description": "the text to print"
  }`, "")
}
