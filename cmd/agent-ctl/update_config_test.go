package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpdateConfig installs modules/update-config, grants it a directory at /config
// and edits YAML and JSON files in it.
func TestUpdateConfig(t *testing.T) {
	home, dir, outside := t.TempDir(), t.TempDir(), t.TempDir()
	code, out, errs := runIn(t, home, "", "install", repoPath("modules/update-config"))
	expect(t, "install", code, out, errs, 0, "installed update-config 1.0.0", "")
	code, out, errs = runIn(t, home, "", "grant", "update-config", "--dir", dir+":/config:rw")
	expect(t, "grant", code, out, errs, 0, "", "")

	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	same := func(what, name, want string) {
		t.Helper()
		if got := read(name); got != want {
			t.Fatalf("%s: %s is\n%s\nwant\n%s", what, name, got, want)
		}
	}
	uc := func(args ...string) (int, string, string) {
		t.Helper()
		return runIn(t, home, "", append([]string{"update-config"}, args...)...)
	}

	const app = `# myapp configuration
server:
  # where to listen
  host: 0.0.0.0 # all interfaces
  port: 8080

# logging, see docs
logging:
  level: info   # debug, info, warn
  format: "text"
features:
  - a
  - b
# end
`
	write("app.yaml", app)
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "8081", "--type", "int")
	expect(t, "yaml int", code, out, errs, 0, "updated app.yaml: server.port = 8081\n", "")
	want := strings.Replace(app, "port: 8080", "port: 8081", 1)
	same("yaml int", "app.yaml", want)

	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "8081", "--type", "int")
	expect(t, "yaml unchanged", code, out, errs, 0, "unchanged app.yaml: server.port = 8081\n", "")
	same("yaml unchanged", "app.yaml", want)

	code, out, errs = uc("--file", "app.yaml", "--key", "logging.level", "--value", "debug")
	expect(t, "yaml string", code, out, errs, 0, "updated app.yaml: logging.level = debug\n", "")
	want = strings.Replace(want, "level: info   #", "level: debug   #", 1)
	same("yaml string", "app.yaml", want)

	// Without --type the value keeps the type of the one it replaces: an
	// int stays an int (--value 8082 wrote "8082", a string), and a text
	// that is no int is refused, the file untouched.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "8082")
	expect(t, "yaml int kept", code, out, errs, 0, "updated app.yaml: server.port = 8082\n", "")
	want = strings.Replace(want, "port: 8081", "port: 8082", 1)
	same("yaml int kept", "app.yaml", want)
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "eighty")
	expect(t, "yaml not an int", code, out, errs, 2, "", `key server.port holds an int and "eighty" is not one (--type string writes a string)`)
	same("yaml not an int", "app.yaml", want)

	// --type string overrides: a string that looks like a number is
	// quoted, so it stays a string.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "9090", "--type", "string")
	expect(t, "yaml numeric string", code, out, errs, 0, "updated app.yaml: server.port = 9090\n", "")
	want = strings.Replace(want, "port: 8082", `port: "9090"`, 1)
	same("yaml numeric string", "app.yaml", want)
	// and, a string now, it stays one without --type.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "9090")
	expect(t, "yaml string kept", code, out, errs, 0, "unchanged app.yaml: server.port = 9090\n", "")
	same("yaml string kept", "app.yaml", want)

	// A quoted string keeps its quotes; a bool is written as a bool.
	code, out, errs = uc("--file", "app.yaml", "--key", "logging.format", "--value", "json")
	expect(t, "yaml quoted", code, out, errs, 0, "updated", "")
	want = strings.Replace(want, `format: "text"`, `format: "json"`, 1)
	same("yaml quoted", "app.yaml", want)

	// Missing key: refused, file byte-identical.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.tls.enabled", "--value", "true", "--type", "bool")
	expect(t, "yaml missing", code, out, errs, 3, "", `"tls" not found in server`)
	same("yaml missing", "app.yaml", want)

	// With --create: the new key goes at the end of its mapping, the rest of the file untouched.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.tls.enabled", "--value", "true", "--type", "bool", "--create")
	expect(t, "yaml create", code, out, errs, 0, "updated app.yaml: server.tls.enabled = true\n", "")
	want = strings.Replace(want, "  port: \"9090\"\n", "  port: \"9090\"\n  tls:\n    enabled: true\n", 1)
	same("yaml create", "app.yaml", want)
	code, out, errs = uc("--file", "app.yaml", "--key", "owner", "--value", "ops team", "--create")
	expect(t, "yaml create top", code, out, errs, 0, "updated app.yaml: owner = ops team\n", "")
	want = strings.Replace(want, "  - b\n", "  - b\nowner: ops team\n", 1)
	same("yaml create top", "app.yaml", want)

	// A new key without --type gets the type YAML reads its text as; a
	// bool and a float keep theirs; --type string keeps a number a string.
	for _, tc := range []struct {
		args []string
		line string
	}{
		{[]string{"--key", "workers", "--value", "4", "--create"}, "workers: 4\n"},
		{[]string{"--key", "debug", "--value", "false", "--create"}, "debug: false\n"},
		{[]string{"--key", "zone", "--value", "007", "--create", "--type", "string"}, "zone: \"007\"\n"},
		{[]string{"--key", "debug", "--value", "true"}, "debug: true\n"},
		{[]string{"--key", "ratio", "--value", "0.5", "--create", "--type", "string"}, "ratio: \"0.5\"\n"},
	} {
		code, out, errs = uc(append([]string{"--file", "app.yaml"}, tc.args...)...)
		expect(t, strings.Join(tc.args, " "), code, out, errs, 0, "updated app.yaml: ", "")
		if !strings.Contains(read("app.yaml"), "\n"+tc.line) {
			t.Fatalf("%q: app.yaml lacks %q:\n%s", tc.args, tc.line, read("app.yaml"))
		}
	}
	write("float.yaml", "ratio: 0.5\non: true\n")
	code, out, errs = uc("--file", "float.yaml", "--key", "ratio", "--value", "2")
	expect(t, "yaml float kept", code, out, errs, 0, "updated float.yaml: ratio = 2.0\n", "")
	code, out, errs = uc("--file", "float.yaml", "--key", "on", "--value", "maybe")
	expect(t, "yaml not a bool", code, out, errs, 2, "", `key on holds a bool and "maybe" is not one`)
	same("yaml float kept", "float.yaml", "ratio: 2.0\non: true\n")
	want = read("app.yaml")

	// A path through a non-mapping.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port.x", "--value", "1", "--create")
	expect(t, "yaml non-mapping", code, out, errs, 3, "", "server.port is not a mapping")
	same("yaml non-mapping", "app.yaml", want)

	// JSON: key order kept, two-space indentation, trailing newline.
	write("app.json", `{"zeta": 1, "alpha": {"port": 8080, "host": "x"}, "list": [1, {"b": 2, "a": 1}], "empty": {}, "on": false}`)
	code, out, errs = uc("--file", "app.json", "--key", "alpha.port", "--value", "8081", "--type", "int")
	expect(t, "json int", code, out, errs, 0, "updated app.json: alpha.port = 8081\n", "")
	wantJSON := `{
  "zeta": 1,
  "alpha": {
    "port": 8081,
    "host": "x"
  },
  "list": [
    1,
    {
      "b": 2,
      "a": 1
    }
  ],
  "empty": {},
  "on": false
}
`
	same("json int", "app.json", wantJSON)
	code, out, errs = uc("--file", "app.json", "--key", "alpha.user", "--value", "op")
	expect(t, "json missing", code, out, errs, 3, "", `"user" not found in alpha`)
	same("json missing", "app.json", wantJSON)
	code, out, errs = uc("--file", "app.json", "--key", "on", "--value", "true")
	expect(t, "json bool kept", code, out, errs, 0, "updated app.json: on = true\n", "")
	code, out, errs = uc("--file", "app.json", "--key", "zeta", "--value", "x1")
	expect(t, "json not an int", code, out, errs, 2, "", `key zeta holds an int and "x1" is not one`)
	code, out, errs = uc("--file", "app.json", "--key", "empty.x.y", "--value", "<v>", "--create")
	expect(t, "json create", code, out, errs, 0, "updated app.json: empty.x.y = <v>\n", "")
	wantJSON = strings.Replace(wantJSON, `"empty": {},
  "on": false`, `"empty": {
    "x": {
      "y": "<v>"
    }
  },
  "on": true`, 1)
	same("json create", "app.json", wantJSON)

	// Paths outside /config are refused and nothing outside changes.
	os.WriteFile(filepath.Join(outside, "escape.yaml"), []byte("a: 1\n"), 0o644)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for _, f := range []string{"../escape.yaml", "sub/../../escape.yaml", "/etc/passwd", "/config/app.yaml"} {
		code, out, errs = uc("--file", f, "--key", "a", "--value", "2", "--create")
		expect(t, "escape "+f, code, out, errs, 2, "", "update-config: ")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "escape.yaml")); string(b) != "a: 1\n" {
		t.Errorf("outside file changed: %q", b)
	}

	// The manifest's schema refuses a malformed key or type before the module runs.
	code, out, errs = uc("--file", "app.yaml", "--key", "server..port", "--value", "1")
	expect(t, "bad key", code, out, errs, 125, "", "--key")
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "1", "--type", "float")
	expect(t, "bad type", code, out, errs, 125, "", "--type")

	// Bad values for --type.
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "eighty", "--type", "int")
	expect(t, "bad int", code, out, errs, 2, "", `bad int value "eighty"`)
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "maybe", "--type", "bool")
	expect(t, "bad bool", code, out, errs, 2, "", `bad bool value "maybe"`)

	// Read-only grant: the write fails, the file is untouched and no temp file is left.
	before := read("app.yaml")
	code, out, errs = runIn(t, home, "", "grant", "update-config", "--dir", dir+":/config:ro")
	expect(t, "grant ro", code, out, errs, 0, "", "")
	code, out, errs = uc("--file", "app.yaml", "--key", "server.port", "--value", "1", "--type", "int")
	if code == 0 {
		t.Fatalf("write under a read-only grant: exit 0, stdout %q stderr %q", out, errs)
	}
	t.Logf("read-only grant: exit %d stderr %q", code, errs)
	same("read-only", "app.yaml", before)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".update-config-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}
