package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// toolDir makes a tool directory: the manifest text and the fixture
// (tests/testdata) or bytes as its module.wasm.
func toolDir(t *testing.T, manifestJSON string, wasm []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifestJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if wasm != nil {
		if err := os.WriteFile(filepath.Join(dir, "module.wasm"), wasm, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const plainManifest = `{"name":"probe","version":"0.1.0","description":"a test tool","inputSchema":{"type":"object"}}`

// badCode is a core module that passes every check made without an
// engine (its imports, its _start) but whose function body is not valid
// code: only a compile finds it.
var badCode = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type 0: () -> ()
	"\x03\x02\x01\x00" + // one function of type 0
	"\x05\x03\x01\x00\x01" + // one memory, 1 page
	"\x07\x13\x02\x06_start\x00\x00\x06memory\x02\x00" +
	"\x0a\x05\x01\x03\x00\xfe\x0b") // body: opcode 0xfe without its immediate

func TestValidate(t *testing.T) {
	hello := repoPath("modules/hello")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string // substrings, each on its own line
	}{
		{"valid", []string{"validate", hello}, 0, "valid: hello 1.0.0\n", nil},
		{"flags after DIR", []string{"validate", hello, "--no-compile"}, 0, "valid: hello 1.0.0\n", nil},
		{"no such dir", []string{"validate", "/no/such/dir"}, 127, "", []string{"/no/such/dir: dir: does not exist"}},
		{"not a dir", []string{"validate", fixtures.Path("hello.wasm")}, 126, "", []string{"dir: is not a directory"}},
		{"no manifest", []string{"validate", fixtures.Dir()}, 126, "", []string{"manifest: manifest.json does not exist"}},
		{"reserved name try", []string{"validate", toolDir(t, strings.Replace(plainManifest, "probe", "try", 1), fixture(t, "hello.wasm"))},
			126, "", []string{`manifest: name "try": is reserved`}},
		{"bad version", []string{"validate", toolDir(t, strings.Replace(plainManifest, "0.1.0", "1.0", 1), fixture(t, "hello.wasm"))},
			126, "", []string{`manifest: version "1.0"`}},
		{"module missing", []string{"validate", toolDir(t, plainManifest, nil)}, 126, "", []string{"module: the manifest names module.wasm: module.wasm does not exist"}},
		{"not wasm", []string{"validate", toolDir(t, plainManifest, fixture(t, "notwasm.wasm"))}, 126, "", []string{"module: module.wasm is not a WebAssembly module"}},
		{"component", []string{"validate", toolDir(t, plainManifest, fixture(t, "component.wasm"))}, 126, "", []string{"is a WebAssembly component"}},
		{"foreign import", []string{"validate", toolDir(t, plainManifest, fixture(t, "imports.wasm"))}, 126, "", []string{"imports: module.wasm imports env::evil_host_call"}},
		{"host import type", []string{"validate", toolDir(t, plainManifest, fixture(t, "hostsig.wasm"))}, 126, "", []string{"imports agent_ctl::net_connect with type (i32) -> (i32): want (i32, i32, i32, i32, i32) -> (i32)"}},
		{"does not compile", []string{"validate", toolDir(t, plainManifest, badCode)}, 126, "", []string{"compile: "}},
		{"--no-compile skips the compile", []string{"validate", "--no-compile", toolDir(t, plainManifest, badCode)}, 0, "valid: probe 0.1.0\n", nil},
		{"no DIR", []string{"validate"}, 125, "", []string{"want exactly one tool directory"}},
		{"two DIRs", []string{"validate", hello, hello}, 125, "", []string{"want exactly one tool directory, got 2"}},
		{"unknown flag", []string{"validate", hello, "--bogus"}, 125, "", []string{"validate: flag provided but not defined: --bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "", tc.args...)
			if code != tc.code || out != tc.stdout {
				t.Fatalf("agent-ctl %q: exit %d stdout %q stderr %q, want exit %d stdout %q", tc.args, code, out, errs, tc.code, tc.stdout)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(tc.stderr) == 0 && errs != "" {
				t.Errorf("stderr %q, want none", errs)
			}
			for _, want := range tc.stderr {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
					t.Errorf("stderr %q lacks a line with %q", errs, want)
				}
			}
		})
	}
}

func TestValidate_json(t *testing.T) {
	code, out, errs := runCLI(t, "", "validate", "--json", repoPath("modules/hello"))
	if code != 0 || errs != "" {
		t.Fatalf("exit %d stderr %q", code, errs)
	}
	var got checked
	var v any
	if err := json.Unmarshal([]byte(out), &got); err != nil || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if bad := camelKeys(v, ""); len(bad) > 0 {
		t.Errorf("keys not in camelCase: %v", bad)
	}
	if !got.Valid || got.Name != "hello" || got.Version != "1.0.0" || !got.Compiled || len(got.Digest) != 64 || got.Problems == nil || len(got.Problems) != 0 {
		t.Errorf("validate --json: %+v", got)
	}

	dir := toolDir(t, strings.Replace(plainManifest, "0.1.0", "1.0", 1), fixture(t, "imports.wasm"))
	code, out, errs = runCLI(t, "", "validate", dir, "--json")
	if code != 126 || errs != "" {
		t.Fatalf("invalid: exit %d stderr %q", code, errs)
	}
	got = checked{}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Valid || len(got.Problems) != 1 || got.Problems[0].Check != "manifest" {
		t.Errorf("invalid --json: %+v", got)
	}
}

// TestReservedNames: no tool can take the name of one of agent-ctl's
// commands (validate, try and dev among them), which it would hide.
func TestReservedNames(t *testing.T) {
	app := newApp(nil, nil, nil)
	cmds := append(app.Commands, devCommands()...)
	for _, c := range cmds {
		for _, n := range c.Names() {
			if !slices.Contains(manifest.ReservedNames, n) {
				t.Errorf("command %s is not in manifest.ReservedNames", n)
			}
		}
	}
}

// TestTry runs tool directories through their manifests, and checks that
// the home gets no grants and no installed tool.
func TestTry(t *testing.T) {
	home, data := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(data, "notes.txt"), []byte("granted content\n"), 0o644)
	hello, cat := repoPath("modules/hello"), catModule(t, data)
	exitDir := toolDir(t, `{"name":"exiter","version":"0.1.0","description":"exits with a code",
		"inputSchema":{"type":"object","properties":{"code":{"type":"integer","minimum":0,"maximum":125}},"required":["code"]},
		"args":{"positional":["code"]}}`, fixture(t, "exit.wasm"))
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"flags", []string{"try", hello, "--", "--name", "author", "--shout"}, 0, "HELLO, AUTHOR\n", ""},
		{"no flags", []string{"try", hello}, 0, "hello, world\n", ""},
		{"try's flags before DIR", []string{"try", "--memory", "64MiB", hello, "--", "--name", "x"}, 0, "hello, x\n", ""},
		{"try's flags after DIR", []string{"try", hello, "--timeout", "10s", "--", "--name", "x"}, 0, "hello, x\n", ""},
		{"exit code passes through", []string{"try", exitDir, "--", "7"}, 7, "", ""},
		{"integer checked", []string{"try", exitDir, "--", "seven"}, 125, "", "exiter: "},
		{"schema maximum", []string{"try", exitDir, "--", "200"}, 125, "", "(see 'agent-ctl try " + exitDir + " -- --help')"},
		{"required", []string{"try", exitDir}, 125, "", "code"},
		{"schema maxLength", []string{"try", hello, "--", "--name", strings.Repeat("x", 65)}, 125, "", "--name"},
		{"unknown tool flag", []string{"try", hello, "--", "--nme", "x"}, 125, "", "hello: flag provided but not defined: --nme (see 'agent-ctl try " + hello + " -- --help')"},
		{"extra argument", []string{"try", hello, "--", "extra"}, 125, "", `unexpected argument "extra"`},
		{"tool help", []string{"try", hello, "--", "--help"}, 0, "who to greet", ""},
		{"granted dir", []string{"try", cat, "--dir", data + ":/data:ro", "--", "/data/notes.txt"}, 0, "granted content\n", ""},
		{"ungranted dir", []string{"try", cat, "--", "/data/notes.txt"}, 1, "", "not granted: files: " + data + " at /data (ro) (--dir " + data + ":/data:ro)"},
		{"dir not asked for", []string{"try", cat, "--dir", data + ":/etc", "--", "/data/notes.txt"}, 125, "", "try: catdata's manifest asks for no directory at /etc"},
		{"rw where ro asked", []string{"try", cat, "--dir", data + ":/data:rw", "--", "/data/notes.txt"}, 125, "", "asks for /data read-only"},
		{"host handed over", []string{"try", cat, "--force", "--dir", "/:/data", "--", "/data/etc/passwd"}, 125, "", "hand over the host"},
		{"own state", []string{"try", cat, "--force", "--dir", home + ":/data", "--", "/data/policy.json"}, 125, "", "own state"},
		{"memory above the manifest's", []string{"try", hello, "--memory", "1GiB"}, 125, "", "try: --memory 1GiB is above hello's default of 128MiB"},
		{"bad memory", []string{"try", hello, "--memory", "lots"}, 125, "", "memory"},
		{"time limit", []string{"try", toolDir(t, plainManifest, fixture(t, "loop.wasm")), "--timeout", "300ms"}, 124, "", "time limit of 300ms reached"},
		{"invalid dir", []string{"try", toolDir(t, plainManifest, fixture(t, "imports.wasm"))}, 126, "", "imports env::evil_host_call"},
		{"no such dir", []string{"try", "/no/such/dir"}, 127, "", "does not exist"},
		{"no DIR", []string{"try"}, 125, "", "want exactly one tool directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runIn(t, home, "", tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || (tc.stdout == "" && out != "") || !strings.Contains(errs, tc.stderr) {
				t.Fatalf("agent-ctl %q\n got exit %d stdout %q stderr %q\nwant exit %d stdout %q stderr containing %q", tc.args, code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(home, "policy.json")); !os.IsNotExist(err) {
		t.Errorf("try wrote the policy file (stat: %v)", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(home, "modules")); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return !strings.HasPrefix(e.Name(), ".") }) {
		t.Errorf("try installed something: %v", entries)
	}
}

// TestTry_sameAsInstalled: the same flags give the same output, message
// and exit code through try as through the installed tool.
func TestTry_sameAsInstalled(t *testing.T) {
	home := t.TempDir()
	hello := repoPath("modules/hello")
	if code, _, errs := runIn(t, home, "", "install", hello); code != 0 {
		t.Fatalf("install: %s", errs)
	}
	for _, flags := range [][]string{
		{"--name", "same"},
		{"--shout"},
		{"--name", strings.Repeat("y", 65)},
		{"--shout=maybe"},
		{"--frobnicate"},
		{"stray"},
	} {
		icode, iout, ierrs := runIn(t, home, "", append([]string{"hello"}, flags...)...)
		tcode, tout, terrs := runIn(t, home, "", append([]string{"try", hello, "--"}, flags...)...)
		terrs = strings.ReplaceAll(terrs, "'agent-ctl try "+hello+" -- --help'", "'agent-ctl hello --help'")
		if icode != tcode || iout != tout || ierrs != terrs {
			t.Errorf("flags %q:\ninstalled: exit %d stdout %q stderr %q\n      try: exit %d stdout %q stderr %q", flags, icode, iout, ierrs, tcode, tout, terrs)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"  --name  world ", []string{"--name", "world"}, ""},
		{`--name "dev loop"`, []string{"--name", "dev loop"}, ""},
		{`--name 'it''s'`, []string{"--name", "its"}, ""},
		{`--name 'a "b"'`, []string{"--name", `a "b"`}, ""},
		{`--name "a \"b\" \$x \n"`, []string{"--name", `a "b" $x \n`}, ""},
		{`a\ b c`, []string{"a b", "c"}, ""},
		{`''`, []string{""}, ""},
		{`'open`, nil, "unterminated single quote"},
		{`"open`, nil, "unterminated double quote"},
		{`end\`, nil, "backslash at the end"},
	} {
		got, err := splitWords(tc.in)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || !slices.Equal(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestDev_usage: dev refuses bad input with one line before it starts
// watching.
func TestDev_usage(t *testing.T) {
	hello := repoPath("modules/hello")
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"dev"}, "dev: want exactly one tool directory"},
		{[]string{"dev", "/no/such/dir"}, "dev: /no/such/dir is not a directory"},
		{[]string{"dev", hello, "--cmd", "'open"}, "dev: --cmd: unterminated single quote"},
		{[]string{"dev", hello, "--cmd", "--name x", "--", "--name", "y"}, "not both"},
		{[]string{"dev", hello, "--bogus"}, "dev: flag provided but not defined: --bogus"},
		{[]string{"dev", hello, "--dir", "/no/such/dir:/data"}, "dev: "},
		{[]string{"dev", hello, "--net", "10.0.0.1"}, "want HOST:PORT"},
		{[]string{"dev", hello, "--env", "A=B", "--env", "=x"}, "dev: "},
		{[]string{"dev", hello, "--memory", "lots"}, "memory limit"},
		{[]string{"dev", hello, "--timeout", "soon"}, "timeout"},
	} {
		// Bounded: a refusal that is missed would start watching for good.
		t.Setenv("AGENTCTL_HOME", t.TempDir())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var outb, errb bytes.Buffer
		code := run(ctx, append([]string{"agent-ctl"}, tc.args...), strings.NewReader(""), &outb, &errb)
		cancel()
		out, errs := outb.String(), errb.String()
		if code != 125 || out != "" || !strings.Contains(errs, tc.stderr) || strings.Count(errs, "\n") != 1 {
			t.Errorf("agent-ctl %q: exit %d stdout %q stderr %q, want 125 and one line with %q", tc.args, code, out, errs, tc.stderr)
		}
	}
}

// TestValidate_interrupted: a compile check cut short by a signal says
// so and exits 130; it never reports the module as compiled.
func TestValidate_interrupted(t *testing.T) {
	t.Setenv("AGENTCTL_HOME", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"agent-ctl", "validate", repoPath("modules/hello")}, strings.NewReader(""), &out, &errb)
	if code != 130 || out.Len() != 0 || !strings.Contains(errb.String(), "cancelled") {
		t.Fatalf("exit %d stdout %q stderr %q, want 130 and the cancellation", code, out.String(), errb.String())
	}
}

// BenchmarkCheckDir: validate's checks without a worker (what dev and try
// make each round), on a Go tool of a few MiB.
func BenchmarkCheckDir(b *testing.B) {
	dir := repoPath("modules/logs")
	for b.Loop() {
		if r := checkDir(dir); !r.Valid {
			b.Fatal(r.Problems)
		}
	}
}

// BenchmarkDevSnapshot: one look of dev at an unchanged directory, the
// work it does every 200ms while it waits.
func BenchmarkDevSnapshot(b *testing.B) {
	d := &devLoop{dir: repoPath("modules/logs"), build: true}
	prev := d.snapshot(nil)
	for b.Loop() {
		prev = d.snapshot(prev)
	}
}

// TestDevSnapshot: what dev counts as a change. Contents, not times: a
// save that changes nothing is none. The build's output is not a change
// when dev builds, and is one with --no-build (something else builds).
func TestDevSnapshot(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.c", "v1")
	write("manifest.json", "{}")
	for _, tc := range []struct {
		name  string
		build bool
		edit  func()
		want  string // the file named as changed; "" none
	}{
		{"source edited", true, func() { write("main.c", "v2") }, "main.c"},
		{"same content saved again", true, func() {
			write("main.c", "v2")
			later := time.Now().Add(time.Hour) // a new time for certain
			os.Chtimes(filepath.Join(dir, "main.c"), later, later)
		}, ""},
		{"new file", true, func() { write("util.h", "x") }, "util.h"},
		{"file removed", true, func() { os.Remove(filepath.Join(dir, "util.h")) }, "util.h"},
		{"subdirectory", true, func() { write("src/lib.rs", "x") }, filepath.Join("src", "lib.rs")},
		{"build output", true, func() { write("tool.wasm", "\x00asm"); write("main.o", "o") }, ""},
		{"hidden and back-ups", true, func() { write(".main.c.swp", "x"); write("main.c~", "x"); write(".git/index", "x") }, ""},
		{"dependencies", true, func() { write("target/debug/x", "x"); write("node_modules/a/b.js", "x") }, ""},
		{"module built elsewhere, --no-build", false, func() { write("tool.wasm", "\x00asm\x01") }, "tool.wasm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &devLoop{dir: dir, build: tc.build}
			before := d.snapshot(nil)
			tc.edit()
			got := differs(before, d.snapshot(before))
			if got != "" {
				got, _ = filepath.Rel(dir, got)
			}
			if got != tc.want {
				t.Errorf("changed %q, want %q", got, tc.want)
			}
		})
	}
}
