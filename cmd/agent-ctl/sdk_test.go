package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/tests/loopback"
)

// sdkExamples are the example tools of modules/sdk, one per language, all
// with the same parameters and output.
var sdkExamples = []struct{ lang, dir string }{
	{"c", "modules/sdk/c/example"},
	{"rust", "modules/sdk/rust/example"},
	{"go", "modules/sdk/go/example"},
	{"as", "modules/sdk/assemblyscript/example"},
}

func checkOutputSchema(t *testing.T, dir, out string) {
	t.Helper()
	b := readRepoFile(t, dir+"/manifest.json")
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ValidateOutput([]byte(out)); err != nil {
		t.Errorf("%s: %v\n%s", dir, err, out)
	}
}

// TestSDK_examples installs each SDK's example tool and drives it through
// the CLI: parameters mapped from its manifest (a string, an integer, a
// switch, a repeated flag), JSON output with escapes, the SDK's own usage
// errors, and a network round trip to a loopback listener: granted, denied
// (the port is not granted), and granted but closed.
func TestSDK_examples(t *testing.T) {
	port := loopback.Listen(t, loopback.EchoLine).Port()
	p := strconv.Itoa(port)
	closed := strconv.Itoa(loopback.ClosedPort(t))
	for _, ex := range sdkExamples {
		t.Run(ex.lang, func(t *testing.T) {
			name := "sdk-example-" + ex.lang
			home := t.TempDir()
			code, out, errs := runIn(t, home, "", "install", repoPath(ex.dir))
			expect(t, "install", code, out, errs, 0, "installed "+name+" 1.0.0", "")
			tool := func(args ...string) (int, string, string) {
				t.Helper()
				return runIn(t, home, "", append([]string{name}, args...)...)
			}

			// Parameters and JSON: quotes, backslashes, control characters and
			// non-ASCII text round-trip; --shout uppercases ASCII letters only.
			code, out, errs = tool("--name", "o\"p\\é\x01", "--count", "3", "--shout", "--tag", "a", "--tag", "b\n\tc", "--tag", "-x")
			expect(t, "params", code, out, errs, 0, "", "")
			want := `{"greeting":"HELLO, O\"P\\é\u0001","count":3,"tags":["a","b\n\tc","-x"],"net":null}` + "\n"
			if out != want {
				t.Errorf("params: stdout\n%s\nwant\n%s", out, want)
			}
			checkOutputSchema(t, ex.dir, out)
			code, out, errs = tool("--name", "op")
			expect(t, "defaults", code, out, errs, 0, `{"greeting":"hello, op","count":1,"tags":[],"net":null}`+"\n", "")

			// The SDK's own usage errors exit 2 with "TOOL: why" (run directly,
			// past the manifest's schema).
			wasm := repoPath(ex.dir + "/example.wasm")
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--name", "op", "--bogus"}, name + ": unknown flag --bogus"},
				{[]string{"--name", "op", "--count", "x"}, name + `: --count: want an integer, got "x"`},
				{[]string{"--name"}, name + ": --name needs a value"},
				{[]string{"--count", "1"}, name + ": --name is required"},
				{[]string{"--name", "op", "--host", "127.0.0.1"}, name + ": --host needs --port"},
			} {
				code, out, errs = runIn(t, home, "", append([]string{"run", wasm, "--"}, tc.args...)...)
				expect(t, strings.Join(tc.args, " "), code, out, errs, 2, "", tc.want)
			}

			// Network, not granted: the probe says denied, the connection is
			// refused with DENIED, and the tool exits 1.
			code, out, errs = tool("--name", "op", "--host", "127.0.0.1", "--port", p)
			expect(t, "denied", code, out, errs, 1,
				`"net":{"probe":"denied","reply":null,"error":"DENIED"}}`, name+": 127.0.0.1:"+p+": not granted")
			checkOutputSchema(t, ex.dir, out)

			// Granted: probe open, then a round trip.
			code, out, errs = runIn(t, home, "", "grant", name, "--net", "127.0.0.1:"+p+","+closed)
			expect(t, "grant", code, out, errs, 0, "", "")
			code, out, errs = tool("--name", "op", "--shout", "--host", "127.0.0.1", "--port", p)
			expect(t, "granted", code, out, errs, 0,
				`{"greeting":"HELLO, OP","count":1,"tags":[],"net":{"probe":"open","reply":"echo: HELLO, OP\n","error":null}}`+"\n", "")
			checkOutputSchema(t, ex.dir, out)

			// Granted but closed.
			code, out, errs = tool("--name", "op", "--host", "127.0.0.1", "--port", closed)
			expect(t, "closed", code, out, errs, 1,
				`"net":{"probe":"closed","reply":null,"error":"REFUSED"}}`, "connection refused")
		})
	}
}
