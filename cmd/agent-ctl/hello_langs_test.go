package main

import (
	"strings"
	"testing"
	"time"
)

// TestHello_everyLanguage runs each build of modules/hello (C, Rust, Go,
// AssemblyScript) through `agent-ctl run` and checks that they behave alike.
func TestHello_everyLanguage(t *testing.T) {
	cases := []cliCase{
		{"default", nil, 0, "hello, world\n", ""},
		{"name", []string{"--name", "op"}, 0, "hello, op\n", ""},
		{"shout", []string{"--shout", "--name", "op"}, 0, "HELLO, OP\n", ""},
		{"unknown", []string{"--bogus"}, 2, "", "hello: unknown argument --bogus"},
	}
	for _, module := range []string{"hello.wasm", "hello-rust.wasm", "hello-go.wasm", "hello-as.wasm"} {
		t.Run(strings.TrimSuffix(module, ".wasm"), func(t *testing.T) {
			path := repoPath("modules/hello/" + module)
			home := t.TempDir() // shared by the cases, so all but the first use the compiled-module cache
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					start := time.Now()
					code, out, errs := runIn(t, home, "", append([]string{"run", "--isolation", "container", path, "--"}, tc.args...)...)
					switch i {
					case 0:
						t.Logf("%s: first call (compiles the module) %v", module, time.Since(start))
					case 1:
						t.Logf("%s: second call (compiled-module cache) %v", module, time.Since(start))
					}
					tc.check(t, "agent-ctl run "+module+" --", code, out, errs)
				})
			}
		})
	}
}
