package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/policies/trust"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// greetDir makes an unsigned module directory "greet" at version around
// the hello fixture.
func greetDir(t *testing.T, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "greet")
	os.MkdirAll(dir, 0o755)
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "hello.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"name":"greet","version":"`+version+
		`","description":"says hello","inputSchema":{"type":"object"},"module":"hello.wasm"}`), 0o644)
	return dir
}

// keyPair makes an unencrypted key pair with key generate and returns its
// secret and public key files. (Encrypted keys cost seconds of scrypt per
// use, tens under the race detector: tests/e2e covers them with the
// binary.)
func keyPair(t *testing.T, home string) (sec, pub string) {
	t.Helper()
	dir := t.TempDir()
	sec, pub = filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	code, out, errs := runIn(t, home, "", "key", "generate", "--no-password", "--secret", sec, "--public", pub)
	expect(t, "key generate", code, out, errs, 0, "wrote secret key", "")
	return sec, pub
}

func TestTrust_keysRoundTrip(t *testing.T) {
	home := t.TempDir()
	sec, pub := keyPair(t, home)
	if fi, err := os.Stat(sec); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v, %v", fi, err)
	}
	before, _ := os.ReadFile(sec)
	code, out, errs := runIn(t, home, "", "key", "generate", "--no-password", "--secret", sec, "--public", pub)
	expect(t, "key generate again", code, out, errs, 125, "", "exists; --force replaces it")
	if after, _ := os.ReadFile(sec); string(after) != string(before) {
		t.Fatal("key generate without --force replaced the secret key")
	}
	code, out, errs = runIn(t, home, "", "key", "generate", "--no-password", "--force", "--secret", sec, "--public", pub)
	expect(t, "key generate --force", code, out, errs, 0, "wrote secret key", "")
	if after, _ := os.ReadFile(sec); string(after) == string(before) {
		t.Fatal("key generate --force kept the old key")
	}
	code, out, errs = runIn(t, home, "", "key", "generate", "--secret", sec+"2", "--public", pub+"2")
	expect(t, "key generate, no password source", code, out, errs, 125, "", "--password-file")
	// By default the secret key goes where minisign -S looks for it.
	t.Setenv("HOME", t.TempDir())
	code, out, errs = runIn(t, home, "", "key", "generate", "--no-password", "--public", pub+"3")
	expect(t, "key generate, default secret", code, out, errs, 0, "wrote secret key", "")
	if fi, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".minisign", "minisign.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("default secret key: %v, %v", fi, err)
	}

	text, _ := os.ReadFile(pub)
	k, err := trust.ParsePublicKey(string(text))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = runIn(t, home, "", "trust", "add", pub, "--name", "alice")
	expect(t, "trust add", code, out, errs, 0, "trusted key alice (ID "+k.ID+")", "")
	code, out, errs = runIn(t, home, "", "trust", "add", pub, "--name", "alice2")
	expect(t, "trust add twice", code, out, errs, 125, "", "already trusted")
	_, other := keyPair(t, home)
	otherText, _ := os.ReadFile(other)
	ok, _ := trust.ParsePublicKey(string(otherText))
	// The key itself, as minisign -P takes it; named by its ID.
	code, out, errs = runIn(t, home, "", "trust", "add", ok.PublicKey)
	expect(t, "trust add KEY", code, out, errs, 0, "trusted key "+ok.ID, "")
	code, out, errs = runIn(t, home, "", "trust", "add", "not-a-key")
	expect(t, "trust add garbage", code, out, errs, 125, "", "not-a-key is neither a public key file nor a public key")

	code, out, errs = runIn(t, home, "", "trust", "list")
	expect(t, "trust list", code, out, errs, 0, "signatures required at install: off", "")
	for _, want := range []string{"alice", k.ID, ok.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("trust list lacks %s:\n%s", want, out)
		}
	}
	code, out, errs = runIn(t, home, "", "trust", "require", "on")
	expect(t, "require on", code, out, errs, 0, "required at install: on", "")
	if strings.Contains(errs, "warning") {
		t.Errorf("require on with keys trusted warned: %s", errs)
	}
	code, out, errs = runIn(t, home, "", "trust", "require", "maybe")
	expect(t, "require maybe", code, out, errs, 125, "", "want on or off")
	code, out, errs = runIn(t, home, "", "trust", "list", "--json")
	expect(t, "trust list --json", code, out, errs, 0, "", "")
	var p trust.Policy
	if err := json.Unmarshal([]byte(out), &p); err != nil || !p.Require || len(p.Keys) != 2 ||
		p.Keys[0].Name != "alice" || p.Keys[0].PublicKey != k.PublicKey || p.Keys[1].Name != ok.ID {
		t.Fatalf("trust list --json: %v\n%s", err, out)
	}
	code, out, errs = runIn(t, home, "", "trust", "remove", "alice")
	expect(t, "trust remove", code, out, errs, 0, "removed key alice", "")
	code, out, errs = runIn(t, home, "", "trust", "remove", "alice")
	expect(t, "trust remove again", code, out, errs, 125, "", "no trusted key of that name: alice")
	code, out, errs = runIn(t, home, "", "trust", "remove", ok.ID)
	expect(t, "trust remove by ID name", code, out, errs, 0, "removed key", "no key is trusted: every install is refused")
	code, out, errs = runIn(t, home, "", "trust", "list")
	expect(t, "trust list, empty", code, out, errs, 0, "no trusted keys", "")
}

// tarGz packs dir as a module archive with one top-level directory.
func tarGz(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "greet.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		tw.WriteHeader(&tar.Header{Name: "greet/" + e.Name(), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	f.Close()
	return path
}

// TestTrust_install installs module directories signed in each way under
// trust require off and on: what is let in, what is refused, with which
// message, and that a refused install leaves the installed version alone.
func TestTrust_install(t *testing.T) {
	home := t.TempDir()
	sec, pub := keyPair(t, home)
	otherSec, _ := keyPair(t, home)
	if code, out, errs := runIn(t, home, "", "trust", "add", pub, "--name", "alice"); code != 0 {
		t.Fatalf("trust add: %s %s", out, errs)
	}
	sign := func(t *testing.T, dir, key string) {
		t.Helper()
		code, out, errs := runIn(t, home, "", "sign", dir, "--key", key)
		expect(t, "sign", code, out, errs, 0, "signed "+dir, "")
	}
	// signed makes greet 2.0.0 signed with key, then changes the signed
	// directory with edit (nil: no change).
	signed := func(key string, edit func(d string)) func(t *testing.T) string {
		return func(t *testing.T) string {
			d := greetDir(t, "2.0.0")
			sign(t, d, key)
			if edit != nil {
				edit(d)
			}
			return d
		}
	}
	cases := []struct {
		name  string
		make  func(t *testing.T) string
		off   string // stdout (exit 0) or stderr (exit 126) under off
		offOK bool
		warn  string // stderr warning under off
		on    string // stderr under on, where it is refused; "" where it is let in
	}{
		{"signed", signed(sec, nil),
			"signed by alice", true, "", ""},
		{"signed archive", func(t *testing.T) string { return tarGz(t, signed(sec, nil)(t)) },
			"signed by alice", true, "", ""},
		{"unsigned", func(t *testing.T) string { return greetDir(t, "2.0.0") },
			"unsigned", true, "", "manifest.json: unsigned (no manifest.json.minisig)"},
		{"unsigned archive", func(t *testing.T) string { return tarGz(t, greetDir(t, "2.0.0")) },
			"unsigned", true, "", "manifest.json: unsigned"},
		{"wrong key", signed(otherSec, nil),
			"unsigned", true, "signed by a key that is not trusted", "manifest.json: signed by a key that is not trusted"},
		{"module unsigned", signed(sec, func(d string) {
			os.Remove(filepath.Join(d, "hello.wasm.minisig"))
		}), "unsigned", true, "hello.wasm: unsigned", "hello.wasm: unsigned (no hello.wasm.minisig)"},
		{"tampered module", signed(sec, func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "hello.wasm"))
			os.WriteFile(filepath.Join(d, "hello.wasm"), append(b, 0), 0o644)
		}), "hello.wasm: signature does not match", false, "", "hello.wasm: signature does not match"},
		{"tampered manifest", signed(sec, func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "manifest.json"))
			os.WriteFile(filepath.Join(d, "manifest.json"), []byte(strings.Replace(string(b), "says hello", "says hi", 1)), 0o644)
		}), "manifest.json: signature does not match", false, "", "manifest.json: signature does not match"},
		{"malformed", signed(sec, func(d string) {
			os.WriteFile(filepath.Join(d, "hello.wasm.minisig"), []byte("untrusted comment: x\nAAAA\ntrusted comment: y\nAAAA\n"), 0o644)
		}), "unsigned", true, "hello.wasm: malformed signature file", "hello.wasm: malformed signature file"},
		{"oversized", signed(sec, func(d string) {
			os.WriteFile(filepath.Join(d, "manifest.json.minisig"), []byte(strings.Repeat("A", 1<<20)), 0o644)
		}), "unsigned", true, "larger than 8192 bytes", "manifest.json: malformed signature file (manifest.json.minisig is larger than 8192 bytes)"},
	}
	for _, require := range []string{"off", "on"} {
		if code, out, errs := runIn(t, home, "", "trust", "require", require); code != 0 {
			t.Fatalf("trust require: %s %s", out, errs)
		}
		for _, tc := range cases {
			t.Run(tc.name+"/require="+require, func(t *testing.T) {
				// A signed 1.0.0 first: a refused install must leave it.
				base := greetDir(t, "1.0.0")
				sign(t, base, sec)
				code, out, errs := runIn(t, home, "", "install", "--isolation", "process", base)
				expect(t, "install 1.0.0", code, out, errs, 0, "signed by alice", "")

				src := tc.make(t)
				code, out, errs = runIn(t, home, "", "install", "--isolation", "process", src)
				refused := require == "on" && tc.on != "" || require == "off" && !tc.offOK
				if !refused {
					want := tc.off
					if require == "on" {
						want = "signed by alice"
					}
					warn := tc.warn
					if require == "on" {
						warn = ""
					}
					expect(t, "install", code, out, errs, 0, "installed greet 2.0.0", warn)
					if !strings.Contains(out, want) {
						t.Fatalf("install stdout %q lacks %q", out, want)
					}
					if warn == "" && strings.Contains(errs, "warning") {
						t.Errorf("install warned: %s", errs)
					}
					return
				}
				wantErr := tc.on
				if require == "off" {
					wantErr = tc.off
				}
				expect(t, "install", code, out, errs, 126, "", wantErr)
				if !strings.Contains(errs, "not installed: "+src) || strings.Contains(errs, ".verify-") {
					t.Errorf("the refusal does not name the source (or names the private copy): %s", errs)
				}
				_, out, _ = runIn(t, home, "", "list")
				if !strings.Contains(out, "1.0.0") {
					t.Errorf("a refused install changed the installed version:\n%s", out)
				}
			})
		}
	}
	entries, _ := os.ReadDir(home)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".verify-") || strings.HasPrefix(e.Name(), ".unpack-") {
			t.Errorf("install left %s behind", e.Name())
		}
	}
}

// TestTrust_installErrorsNameSource: an install that the store refuses
// after the signatures were checked names the operator's directory, not
// the private copy it was installed from.
func TestTrust_installErrorsNameSource(t *testing.T) {
	home := t.TempDir()
	sec, pub := keyPair(t, home)
	runIn(t, home, "", "trust", "add", pub, "--name", "alice")
	d := greetDir(t, "2.0.0")
	os.WriteFile(filepath.Join(d, "hello.wasm"), []byte("not wasm"), 0o644)
	if code, out, errs := runIn(t, home, "", "sign", d, "--key", sec); code != 0 {
		t.Fatalf("sign: %s %s", out, errs)
	}
	code, out, errs := runIn(t, home, "", "install", "--isolation", "process", d)
	expect(t, "install", code, out, errs, 126, "", "not a WebAssembly module")
	if strings.Contains(errs, ".verify-") || !strings.Contains(errs, d) {
		t.Errorf("the error names the private copy, not %s: %s", d, errs)
	}
}
