package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

func repoPath(p string) string { return filepath.Join(fixtures.Dir(), "..", "..", p) }

// catModule makes a module directory around the cat fixture whose manifest
// asks for a read-only directory at /data.
func catModule(t *testing.T, grantHost string) string {
	t.Helper()
	return toolDir(t, `{"name":"catdata","version":"0.1.0","description":"prints a file of the granted /data",
	"inputSchema":{"type":"object","properties":{"path":{"type":"string","description":"file to print"}},"required":["path"]},
	"args":{"positional":["path"]},
	"capabilities":{"files":[{"host":"`+grantHost+`","guest":"/data","mode":"ro"}]}}`, fixture(t, "cat.wasm"))
}

func expect(t *testing.T, what string, code int, out, errs string, wantCode int, wantOut, wantErr string) {
	t.Helper()
	if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errs, wantErr) {
		t.Fatalf("%s: exit %d stdout %q stderr %q\nwant exit %d, stdout containing %q, stderr containing %q",
			what, code, out, errs, wantCode, wantOut, wantErr)
	}
}

func TestTools_hello(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", repoPath("modules/hello"))
	expect(t, "install", code, out, errs, 0, "installed hello 1.0.0", "")
	if !strings.Contains(out, "asks for no capabilities") {
		t.Errorf("install output: %q", out)
	}
	// Installing precompiled the module: the first call loads cached code.
	code, out, errs = runIn(t, home, "", "--log-level", "debug", "hello", "--name", "operator")
	expect(t, "run", code, out, errs, 0, "hello, operator\n", "cache_hit=true")
	code, out, errs = runIn(t, home, "", "hello", "--shout", "--name", "you")
	expect(t, "shout", code, out, errs, 0, "HELLO, YOU\n", "")
	code, out, errs = runIn(t, home, "", "hello", "--name", strings.Repeat("x", 65))
	expect(t, "schema violation", code, out, errs, 125, "", "--name")
	code, out, errs = runIn(t, home, "", "hello", "--frobnicate")
	expect(t, "unknown flag", code, out, errs, 125, "", "flag provided but not defined")
	code, out, errs = runIn(t, home, "", "hello", "extra")
	expect(t, "extra argument", code, out, errs, 125, "", `unexpected argument "extra"`)
	code, out, errs = runIn(t, home, "", "hello", "--help")
	expect(t, "help", code, out, errs, 0, "--name", "")
	if !strings.Contains(out, "who to greet") {
		t.Errorf("help lacks the parameter's description:\n%s", out)
	}

	code, out, errs = runIn(t, home, "", "list", "--json")
	expect(t, "list", code, out, errs, 0, `"name": "hello"`, "")
	var entries []listEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 1 || entries[0].Version != "1.0.0" {
		t.Fatalf("list --json: %v %+v", err, entries)
	}
	code, out, errs = runIn(t, home, "", "describe", "hello")
	expect(t, "describe", code, out, errs, 0, "--name (string)", "")

	// A bad new version leaves the installed one untouched.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "manifest.json"), []byte(`{"name":"hello","version":"2.0","description":"x","inputSchema":{"type":"object"},"module":"hello.wasm"}`), 0o644)
	wasm := readRepoFile(t, "modules/hello/hello.wasm")
	os.WriteFile(filepath.Join(bad, "hello.wasm"), wasm, 0o644)
	code, out, errs = runIn(t, home, "", "install", bad)
	expect(t, "bad version", code, out, errs, 126, "", "version")
	os.WriteFile(filepath.Join(bad, "manifest.json"), []byte(`{"name":"hello","version":"2.0.0","description":"x","inputSchema":{"type":"object"},"module":"missing.wasm"}`), 0o644)
	code, out, errs = runIn(t, home, "", "install", bad)
	expect(t, "missing wasm", code, out, errs, 126, "", "missing.wasm")
	os.WriteFile(filepath.Join(bad, "manifest.json"), []byte(`{"name":"hello","version":"2.0.0","description":"x","inputSchema":{"type":"object"},"module":"hello.wasm"}`), 0o644)
	os.WriteFile(filepath.Join(bad, "hello.wasm"), []byte("not wasm"), 0o644)
	code, out, errs = runIn(t, home, "", "install", bad)
	expect(t, "not wasm", code, out, errs, 126, "", "not a WebAssembly module")
	code, out, errs = runIn(t, home, "", "hello")
	expect(t, "still installed", code, out, errs, 0, "hello, world\n", "")
	_, out, _ = runIn(t, home, "", "list")
	if !strings.Contains(out, "1.0.0") {
		t.Errorf("list after failed installs: %q", out)
	}

	code, out, errs = runIn(t, home, "", "remove", "hello")
	expect(t, "remove", code, out, errs, 0, "removed hello", "")
	code, out, errs = runIn(t, home, "", "describe", "hello")
	expect(t, "describe removed", code, out, errs, 127, "", "not installed")
	code, out, errs = runIn(t, home, "", "list")
	expect(t, "list empty", code, out, errs, 0, "no tools installed", "")
}

func TestTools_grants(t *testing.T) {
	home, data := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(data, "notes.txt"), []byte("granted content\n"), 0o644)
	mod := catModule(t, data)

	// Non-interactive install grants nothing and says how to.
	code, out, errs := runIn(t, home, "", "install", mod)
	expect(t, "install", code, out, errs, 0, "nothing granted; to grant, run:", "")
	if !strings.Contains(out, "agent-ctl grant catdata --dir "+data+":/data:ro") {
		t.Errorf("install does not print the grant command:\n%s", out)
	}
	code, out, errs = runIn(t, home, "", "catdata", "/data/notes.txt")
	expect(t, "ungranted", code, out, errs, 1, "", "not granted: files: "+data+" at /data (ro) (agent-ctl grant catdata --dir "+data+":/data:ro)")
	if out != "" {
		t.Errorf("ungranted call printed %q", out)
	}
	code, out, errs = runIn(t, home, "", "catdata")
	expect(t, "missing required", code, out, errs, 125, "", "path")

	code, out, errs = runIn(t, home, "", "grant", "catdata", "--dir", data+":/data:ro")
	expect(t, "grant", code, out, errs, 0, "", "")
	code, out, errs = runIn(t, home, "", "catdata", "/data/notes.txt")
	expect(t, "granted", code, out, errs, 0, "granted content\n", "")
	code, out, errs = runIn(t, home, "", "describe", "catdata")
	expect(t, "describe granted", code, out, errs, 0, "files: "+data+" at /data (ro)", "")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"grant", "catdata", "--dir", "/:/host"}, "hand over the host"},
		{[]string{"grant", "catdata", "--dir", "/proc:/p"}, "hand over the host"},
		{[]string{"grant", "catdata", "--dir", home + ":/h"}, "own state"},
		{[]string{"grant", "catdata", "--net", "10.0.0.0/24"}, "want HOST:PORT"},
		{[]string{"grant", "catdata", "--memory", "lots"}, "memory"},
		{[]string{"grant", "nosuchtool", "--env", "A"}, "not installed"},
	} {
		code, _, errs = runIn(t, home, "", tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d stderr %q, want a refusal mentioning %q", tc.args, code, errs, tc.want)
		}
	}

	code, out, errs = runIn(t, home, "", "revoke", "catdata", "--dir", "/data")
	expect(t, "revoke", code, out, errs, 0, "", "")
	code, out, errs = runIn(t, home, "", "catdata", "/data/notes.txt")
	expect(t, "revoked", code, out, errs, 1, "", "not granted: files: "+data+" at /data (ro) (agent-ctl grant catdata --dir "+data+":/data:ro)")
	code, out, errs = runIn(t, home, "", "revoke", "catdata", "--dir", "/data")
	expect(t, "revoke twice", code, out, errs, 125, "", "no directory granted at /data")

	// --yes grants what the manifest asks for.
	code, out, errs = runIn(t, home, "", "install", "--yes", mod)
	expect(t, "install --yes", code, out, errs, 0, "granted", "")
	code, out, errs = runIn(t, home, "", "catdata", "/data/notes.txt")
	expect(t, "granted by --yes", code, out, errs, 0, "granted content\n", "")
}

func TestTools_positionalArray(t *testing.T) {
	home := t.TempDir()
	dir := toolDir(t, `{"name":"greetall","version":"1.0.0","description":"greets the first of many",
	"inputSchema":{"type":"object","properties":{"names":{"type":"array","items":{"type":"string","maxLength":8}}}},
	"args":{"positional":["names"]}}`, fixture(t, "hello.wasm"))
	code, out, errs := runIn(t, home, "", "install", dir)
	expect(t, "install", code, out, errs, 0, "installed greetall", "")
	code, out, errs = runIn(t, home, "", "greetall", "ann", "bob", "cy")
	expect(t, "array positional", code, out, errs, 0, "hello, ann\n", "")
	code, out, errs = runIn(t, home, "", "greetall", "ann", "much-too-long-name")
	expect(t, "array item violation", code, out, errs, 125, "", "<names>")
}

func TestCompletion(t *testing.T) {
	home := t.TempDir()
	if code, _, errs := runIn(t, home, "", "install", repoPath("modules/hello")); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runIn(t, home, "", "--generate-bash-completion")
	expect(t, "commands", code, out, errs, 0, "hello\n", "")
	for _, c := range []string{"run\n", "install\n", "grant\n", "completion\n"} {
		if !strings.Contains(out, c) {
			t.Errorf("completion lacks %q:\n%s", c, out)
		}
	}
	for _, tc := range []struct {
		args []string
		want string // the whole output
	}{
		{[]string{"hello", "-"}, "--name\n--shout\n--help\n"},
		{[]string{"grant"}, "hello\n"},
		{[]string{"revoke"}, "hello\n"},
		{[]string{"describe"}, "hello\n"},
		{[]string{"remove"}, "hello\n"},
		{[]string{"history"}, "hello\n"},
		{[]string{"rollback"}, "hello\n"},
		{[]string{"list"}, ""},
		{[]string{"grant", "hello"}, ""},
		{[]string{"grant", "hello", "-"}, "--dir\n--env\n--net\n--memory\n--timeout\n--max-output\n--force\n--confirm\n--json\n--help\n"},
		{[]string{"new", "--lang"}, strings.Join(modules.LanguageNames(), "\n") + "\n"},
		{[]string{"run", "--isolation"}, "container\nprocess\n"},
		{[]string{"install", "--isolation"}, "container\nprocess\n"},
	} {
		code, out, errs := runIn(t, home, "", append(tc.args, "--generate-bash-completion")...)
		if code != 0 || out != tc.want {
			t.Errorf("completing after %q: exit %d stdout %q stderr %q, want %q", tc.args, code, out, errs, tc.want)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errs = runIn(t, home, "", "completion", sh)
		expect(t, sh, code, out, errs, 0, "--generate-bash-completion", "")
	}
	code, out, errs = runIn(t, home, "", "completion", "tcsh")
	expect(t, "unknown shell", code, out, errs, 125, "", "bash, zsh, fish")
}

// TestTools_globalFlags finds an installed tool whatever global flags come
// before it, in any of the forms the flag parser takes: the home and the
// command are read once, with the app's own flag definitions (two argv
// scans used to disagree: `--log-level debug --home H hello` looked for
// hello in $AGENTCTL_HOME).
func TestTools_globalFlags(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", repoPath("modules/hello"))
	expect(t, "install", code, out, errs, 0, "installed hello", "")
	other := t.TempDir() // $AGENTCTL_HOME below: no tools there
	for _, args := range [][]string{
		{"--log-level", "debug", "--home", home, "hello", "--name", "x"},
		{"--home", home, "--log-level", "debug", "hello", "--name", "x"},
		{"--log-level=warn", "--home=" + home, "hello", "--name", "x"},
		{"-home", home, "hello", "--name", "x"},
		{"--log-level", "debug", "--home", home, "describe", "hello"},
		{"--log-level", "warn", "--home", home, "grant", "hello", "--memory", "32MiB"},
	} {
		code, out, errs := runIn(t, other, "", args...)
		if code != 0 {
			t.Errorf("agent-ctl %q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	code, out, errs = runIn(t, other, "", "--log-level", "debug", "hello", "--name", "x")
	expect(t, "tool not in $AGENTCTL_HOME", code, out, errs, 127, "", "no tool or command named hello")
}

// TestTools_grantRevoke: grant and revoke print the grants they leave, refuse
// to do nothing, refuse a directory or a limit the manifest does not ask for
// unless --force, and revoke takes the grant syntax and single limits. The
// steps run in order on one home.
func TestTools_grantRevoke(t *testing.T) {
	home, data, other := t.TempDir(), t.TempDir(), t.TempDir()
	code, out, errs := runIn(t, home, "", "install", "--isolation", "process", catModule(t, data))
	expect(t, "install", code, out, errs, 0, "installed catdata", "")
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, errs   string
		notOut, notErr string
	}{
		{args: []string{"grant", "catdata"}, code: 125, errs: "grant: nothing to grant"},
		{args: []string{"grant", "catdata", "--json"}, code: 125, errs: "grant: nothing to grant"},
		{args: []string{"revoke", "catdata"}, code: 125, errs: "revoke: nothing to revoke"},
		{args: []string{"grant", "catdata", "--dir", other + ":/etc"}, code: 125, errs: "catdata's manifest asks for no directory at /etc (it asks for: /data (ro)); --force"},
		{args: []string{"grant", "catdata", "--dir", data + ":/data:rw"}, code: 125, errs: "asks for /data read-only, not rw"},
		{args: []string{"grant", "catdata", "--memory", "1GiB"}, code: 125, errs: "--memory 1GiB is above catdata's default of 128MiB (its manifest sets none)"},
		{args: []string{"grant", "catdata", "--timeout", "1h"}, code: 125, errs: "--timeout 1h is above"},
		{args: []string{"grant", "catdata", "--dir", "/:/host", "--force"}, code: 125, errs: "hand over the host"},
		{args: []string{"describe", "catdata"}, stdout: "granted:\n  nothing"},
		{args: []string{"grant", "catdata", "--dir", data + ":/data"}, stdout: "catdata is granted:\n  files: " + data + " at /data (ro)\n"},
		{args: []string{"grant", "catdata", "--memory", "64MiB", "--env", "TOKEN=s3cret"}, stdout: "  env: TOKEN=***\n  limit: memory 64MiB\n",
			errs: "note: catdata's manifest does not ask for the variable TOKEN", notOut: "s3cret"},
		{args: []string{"grant", "catdata", "--json", "--net", "127.0.0.1:8080"}, stdout: `"key": "TOKEN",
      "value": "***"`, notOut: "s3cret"},
		{args: []string{"grant", "catdata", "--force", "--dir", other + ":/etc:rw", "--timeout", "1h"}, stdout: "files: " + other + " at /etc (rw)\n", notErr: "note"},
		{args: []string{"revoke", "catdata", "--dir", data + ":/wrong"}, code: 125, errs: "catdata has no directory granted at /wrong"},
		{args: []string{"revoke", "catdata", "--dir", other + ":/data"}, code: 125, errs: "has /data granted from " + data + ", not from " + other},
		{args: []string{"revoke", "catdata", "--dir", data + ":/data:rw"}, code: 125, errs: "has /data granted ro, not rw"},
		{args: []string{"revoke", "catdata", "--max-output"}, code: 125, errs: "catdata has no max-output limit granted"},
		{args: []string{"revoke", "catdata", "--dir", data + ":/data:ro", "--memory", "--net", "127.0.0.1:8080", "--env", "TOKEN=x"},
			stdout: "catdata is granted:\n  files: " + other + " at /etc (rw)\n  limit: timeout 1h\n"},
		{args: []string{"revoke", "catdata", "--memory"}, code: 125, errs: "catdata has no memory limit granted"},
		{args: []string{"revoke", "catdata", "--timeout", "--dir", "/etc"}, stdout: "catdata is granted nothing\n"},
		{args: []string{"revoke", "catdata", "--all", "--json"}, stdout: `"dirs": [],`},
	} {
		code, out, errs := runIn(t, home, "", tc.args...)
		expect(t, strings.Join(tc.args, " "), code, out, errs, tc.code, tc.stdout, tc.errs)
		if tc.notOut != "" && strings.Contains(out, tc.notOut) || tc.notErr != "" && strings.Contains(errs, tc.notErr) {
			t.Fatalf("%q: stdout %q stderr %q shows %q%q", tc.args, out, errs, tc.notOut, tc.notErr)
		}
	}
}

// camelKeys lists the JSON object keys in v, outside a tool's own input
// schema, that are not camelCase.
func camelKeys(v any, path string) []string {
	var bad []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "inputSchema" {
				continue
			}
			if !regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`).MatchString(k) {
				bad = append(bad, path+"."+k)
			}
			bad = append(bad, camelKeys(e, path+"."+k)...)
		}
	case []any:
		for _, e := range x {
			bad = append(bad, camelKeys(e, path+"[]")...)
		}
	}
	return bad
}

// TestJSON: every --json prints camelCase keys, and no fixed environment
// value shows, in JSON or in text.
func TestJSON(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", "--isolation", "process", repoPath("modules/hello"))
	expect(t, "install", code, out, errs, 0, "installed hello", "")
	code, out, errs = runIn(t, home, "", "grant", "hello", "--env", "API_TOKEN=s3cret-value", "--env", "TZ")
	expect(t, "grant", code, out, errs, 0, "env: API_TOKEN=***", "")
	for _, tc := range []struct {
		args []string
		want string // a key the output must have
	}{
		{[]string{"list", "--json"}, `"digest"`},
		{[]string{"describe", "hello", "--json"}, `"name": "shout"`},
		{[]string{"describe", "hello", "--json"}, `"fromHost": true`},
		{[]string{"doctor", "--json"}, `"defaultIsolation"`},
		{[]string{"history", "hello", "--json"}, `"current": true`},
		{[]string{"grant", "hello", "--json", "--memory", "64MiB"}, `"memory": "64MiB"`},
		{[]string{"revoke", "hello", "--json", "--memory"}, `"fromHost": true`},
		{[]string{"describe", "hello"}, "env: API_TOKEN=***\n  env: TZ (the host's value)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runIn(t, home, "", tc.args...)
			if code != 0 && !(tc.args[0] == "doctor" && code == 1) {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			if strings.Contains(out, "s3cret") {
				t.Errorf("shows a fixed env value:\n%s", out)
			}
			if !slices.Contains(tc.args, "--json") {
				if !strings.Contains(out, tc.want) {
					t.Errorf("stdout lacks %q:\n%s", tc.want, out)
				}
				return
			}
			var v any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if bad := camelKeys(v, ""); len(bad) > 0 {
				t.Errorf("keys not in camelCase: %v", bad)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("stdout lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
