package trust

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

const testManifest = `{"name":"greet","version":"1.0.0","description":"says hello","inputSchema":{"type":"object"},"module":"hello.wasm"}`

// moduleDir makes an unsigned module directory around the hello fixture.
func moduleDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), []byte(testManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newKey makes an unencrypted key pair (an encrypted one costs seconds of
// scrypt; the tests in tests/e2e cover those) and returns its secret key
// and its public key trusted as name.
func newKey(t testing.TB, name string) (*SecretKey, Key) {
	t.Helper()
	pub, sec, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ParseSecretKey(sec, "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicKey(string(pub))
	if err != nil {
		t.Fatal(err)
	}
	k.Name = name
	return sk, k
}

func signed(t testing.TB, sk *SecretKey) string {
	t.Helper()
	dir := moduleDir(t)
	if err := Sign(dir, sk); err != nil {
		t.Fatal(err)
	}
	return dir
}

// signedEdited is a module directory signed by sk whose manifest's
// signature file edit then changes.
func signedEdited(t testing.TB, sk *SecretKey, edit func(sig string) string) string {
	t.Helper()
	dir := signed(t, sk)
	p := filepath.Join(dir, "manifest.json.minisig")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func appendTo(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestVerify(t *testing.T) {
	alice, aliceKey := newKey(t, "alice")
	bob, bobKey := newKey(t, "bob")
	trusted := []Key{aliceKey, bobKey}
	for _, tc := range []struct {
		name   string
		keys   []Key
		setup  func(t testing.TB) string
		file   string // the file the error names; "" when it verifies
		reason error
		detail string
	}{
		{"signed", trusted, func(t testing.TB) string { return signed(t, alice) }, "", nil, ""},
		{"unsigned", trusted, moduleDir, manifest.FileName, ErrUnsigned, "no manifest.json.minisig"},
		{"module unsigned", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			os.Remove(filepath.Join(dir, "hello.wasm.minisig"))
			return dir
		}, "hello.wasm", ErrUnsigned, "no hello.wasm.minisig"},
		{"unknown key", []Key{bobKey}, func(t testing.TB) string { return signed(t, alice) }, manifest.FileName, ErrUnknownKey, aliceKey.ID},
		{"no keys", nil, func(t testing.TB) string { return signed(t, alice) }, manifest.FileName, ErrUnknownKey, aliceKey.ID},
		{"tampered manifest", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			appendTo(t, filepath.Join(dir, manifest.FileName), " ")
			return dir
		}, manifest.FileName, ErrBadSignature, "key alice"},
		{"tampered module", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			appendTo(t, filepath.Join(dir, "hello.wasm"), "\x00")
			return dir
		}, "hello.wasm", ErrBadSignature, "key alice"},
		{"signatures swapped", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			m, _ := os.ReadFile(filepath.Join(dir, "manifest.json.minisig"))
			w, _ := os.ReadFile(filepath.Join(dir, "hello.wasm.minisig"))
			os.WriteFile(filepath.Join(dir, "manifest.json.minisig"), w, 0o644)
			os.WriteFile(filepath.Join(dir, "hello.wasm.minisig"), m, 0o644)
			return dir
		}, manifest.FileName, ErrBadSignature, "key alice"},
		{"trusted comment changed", trusted, func(t testing.TB) string {
			return signedEdited(t, alice, func(sig string) string {
				return strings.Replace(sig, "file:manifest.json", "file:other.json", 1)
			})
		}, manifest.FileName, ErrBadSignature, "key alice"},
		{"mixed signers", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			other := signed(t, bob)
			b, _ := os.ReadFile(filepath.Join(other, "hello.wasm.minisig"))
			os.WriteFile(filepath.Join(dir, "hello.wasm.minisig"), b, 0o644)
			return dir
		}, "hello.wasm", ErrMixedSigners, "hello.wasm by bob, manifest.json by alice"},
		{"releases mixed", trusted, func(t testing.TB) string {
			// Another release, also signed by alice: its module and the
			// module's signature beside this release's manifest.
			dir := signed(t, alice)
			other := moduleDir(t)
			cat, _ := os.ReadFile(fixtures.Path("cat.wasm"))
			os.WriteFile(filepath.Join(other, "hello.wasm"), cat, 0o644)
			if err := Sign(other, alice); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"hello.wasm", "hello.wasm.minisig"} {
				b, _ := os.ReadFile(filepath.Join(other, f))
				os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
			return dir
		}, "hello.wasm", ErrBadSignature, "key alice signed manifest.json for module sha256:"},
		{"garbage", trusted, func(t testing.TB) string {
			return signedEdited(t, alice, func(string) string { return "not a signature\n" })
		}, manifest.FileName, ErrMalformed, "manifest.json.minisig: invalid signature"},
		{"empty", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			os.WriteFile(filepath.Join(dir, "hello.wasm.minisig"), nil, 0o644)
			return dir
		}, "hello.wasm", ErrMalformed, "hello.wasm.minisig"},
		{"bad base64", trusted, func(t testing.TB) string {
			return signedEdited(t, alice, func(sig string) string {
				lines := strings.Split(sig, "\n")
				lines[1] = "!!" + lines[1][2:]
				return strings.Join(lines, "\n")
			})
		}, manifest.FileName, ErrMalformed, "illegal base64"},
		{"oversized", trusted, func(t testing.TB) string {
			// A valid signature whose untrusted comment makes the file
			// one byte too large: the size is checked before anything.
			return signedEdited(t, alice, func(sig string) string {
				pad := strings.Repeat("x", maxSig+1-len(sig))
				return strings.Replace(sig, "untrusted comment: ", "untrusted comment: "+pad, 1)
			})
		}, manifest.FileName, ErrMalformed, "larger than 8192 bytes"},
		{"legacy format", trusted, func(t testing.TB) string {
			dir := signed(t, alice)
			raw, _ := os.ReadFile(filepath.Join(dir, manifest.FileName))
			os.WriteFile(filepath.Join(dir, "manifest.json.minisig"), minisign.Sign(alice.k, raw), 0o644)
			return dir
		}, manifest.FileName, ErrMalformed, "legacy format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			k, err := Verify(dir, tc.keys)
			if tc.reason == nil {
				if err != nil || k.Name != "alice" {
					t.Fatalf("Verify = %+v, %v; want alice", k, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify = %+v, %v; want an *Error", k, err)
			}
			if e.File != tc.file || !errors.Is(err, tc.reason) || !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("Verify: %v (file %q, detail %q); want file %q, reason %q, detail containing %q",
					err, e.File, e.Detail, tc.file, tc.reason, tc.detail)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("the message %q does not name %s", err, tc.file)
			}
		})
	}
}

// TestVerifyDir checks the policy: under require on every failure refuses;
// under off only a trusted key's mismatch does, the rest is let in as
// unsigned with the reason for a warning.
func TestVerifyDir(t *testing.T) {
	alice, aliceKey := newKey(t, "alice")
	mallory, _ := newKey(t, "mallory")
	cases := []struct {
		name    string
		setup   func(t testing.TB) string
		reason  error // nil: verified
		offOK   bool  // let in under off
		warning bool  // with a Problem under off
	}{
		{"signed", func(t testing.TB) string { return signed(t, alice) }, nil, true, false},
		{"unsigned", moduleDir, ErrUnsigned, true, false},
		{"half signed", func(t testing.TB) string {
			dir := signed(t, alice)
			os.Remove(filepath.Join(dir, "manifest.json.minisig"))
			return dir
		}, ErrUnsigned, true, true},
		{"wrong key", func(t testing.TB) string { return signed(t, mallory) }, ErrUnknownKey, true, true},
		{"malformed", func(t testing.TB) string {
			dir := signed(t, alice)
			os.WriteFile(filepath.Join(dir, "hello.wasm.minisig"), []byte("x\ny\nz\nw\n"), 0o644)
			return dir
		}, ErrMalformed, true, true},
		{"tampered", func(t testing.TB) string {
			dir := signed(t, alice)
			appendTo(t, filepath.Join(dir, "hello.wasm"), "\x00")
			return dir
		}, ErrBadSignature, false, false},
	}
	for _, require := range []bool{false, true} {
		home := t.TempDir()
		if err := Update(home, func(p *Policy) error { p.Require = require; return p.Add(aliceKey) }); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.name+"/require="+onOff(require), func(t *testing.T) {
				res, err := VerifyDir(home, tc.setup(t))
				switch {
				case tc.reason == nil:
					if err != nil || res.SignerName() != "alice" {
						t.Fatalf("VerifyDir = %+v, %v; want signed by alice", res, err)
					}
				case require || !tc.offOK:
					if !errors.Is(err, tc.reason) {
						t.Fatalf("VerifyDir = %+v, %v; want refused: %v", res, err, tc.reason)
					}
				default:
					if err != nil || res.SignerName() != Unsigned || (res.Problem != nil) != tc.warning {
						t.Fatalf("VerifyDir = %+v, %v; want let in unsigned, warning %v", res, err, tc.warning)
					}
					if tc.warning && !errors.Is(res.Problem, tc.reason) {
						t.Errorf("problem %v, want %v", res.Problem, tc.reason)
					}
				}
			})
		}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// TestStage checks that what Stage verified is what it hands out: a source
// changed after Stage returns changes nothing in the copy; and a module
// that is a symbolic link is not turned into a file the store accepts.
func TestStage(t *testing.T) {
	alice, aliceKey := newKey(t, "alice")
	home := t.TempDir()
	if err := Update(home, func(p *Policy) error { p.Require = true; return p.Add(aliceKey) }); err != nil {
		t.Fatal(err)
	}
	src := signed(t, alice)
	dir, res, cleanup, err := Stage(home, src)
	if err != nil {
		t.Fatal(err)
	}
	if res.SignerName() != "alice" {
		t.Errorf("signer %q", res.SignerName())
	}
	appendTo(t, filepath.Join(src, "hello.wasm"), "\x00")
	if _, err := Verify(dir, []Key{aliceKey}); err != nil {
		t.Errorf("the staged copy changed with its source: %v", err)
	}
	cleanup()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cleanup left %s: %v", dir, err)
	}

	linked := signed(t, alice)
	// The link names the very module signed: only the link is wrong.
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	os.Rename(filepath.Join(linked, "hello.wasm"), elsewhere)
	if err := os.Symlink(elsewhere, filepath.Join(linked, "hello.wasm")); err != nil {
		t.Fatal(err)
	}
	_, _, cleanup, err = Stage(home, linked)
	defer cleanup()
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Stage of a linked module: %v; want refused", err)
	}
}

// TestPrivateDir: a private directory left by an agent-ctl that died is
// removed by a later one, once it is stale; a recent one (an install
// under way) is left alone.
func TestPrivateDir(t *testing.T) {
	home := t.TempDir()
	stale, _, err := PrivateDir(home)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "hello.wasm"), []byte("x"), 0o600)
	old := time.Now().Add(-2 * staleAfter)
	os.Chtimes(stale, old, old)
	recent, _, err := PrivateDir(home)
	if err != nil {
		t.Fatal(err)
	}
	dir, cleanup, err := PrivateDir(home)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("private directory: %v, %v", fi, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale directory is still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent directory was removed: %v", err)
	}
	cleanup()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cleanup left %s", dir)
	}
}

func TestPolicy_addRemove(t *testing.T) {
	home := t.TempDir()
	_, a := newKey(t, "alice")
	_, b := newKey(t, "bob")
	if err := Update(home, func(p *Policy) error { return p.Add(a) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  Key
		want string
	}{
		{"same name", Key{Name: "alice", ID: b.ID, PublicKey: b.PublicKey}, "a key named alice"},
		{"same key", Key{Name: "alice2", ID: a.ID, PublicKey: a.PublicKey}, "named alice"},
		{"bad name", Key{Name: "-x", ID: b.ID, PublicKey: b.PublicKey}, "key name"},
		{"bad key", Key{Name: "carol", ID: "1", PublicKey: "AAAA"}, "public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Update(home, func(p *Policy) error { return p.Add(tc.key) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if err := Update(home, func(p *Policy) error { return p.Add(b) }); err != nil {
		t.Fatal(err)
	}
	if err := Update(home, func(p *Policy) error { return p.Remove("carol") }); !errors.Is(err, ErrNoKey) {
		t.Errorf("Remove of an unknown key: %v", err)
	}
	if err := Update(home, func(p *Policy) error { return p.Remove("alice") }); err != nil {
		t.Fatal(err)
	}
	p, err := Load(home)
	if err != nil || len(p.Keys) != 1 || p.Keys[0] != b || p.Require {
		t.Fatalf("Load = %+v, %v; want bob only", p, err)
	}
	if fi, err := os.Stat(Path(home)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("policy file mode: %v, %v", fi, err)
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// TestInterop_minisignSigns: a key pair made by minisign -G and files
// signed by minisign -S verify here. (Unencrypted keys: tests/e2e covers
// the encrypted ones, whose scrypt costs seconds.)
func TestInterop_minisignSigns(t *testing.T) {
	tool := testutil.MinisignTool(t)
	keys := t.TempDir()
	pub, sec := filepath.Join(keys, "m.pub"), filepath.Join(keys, "m.key")
	runTool(t, tool, "-G", "-W", "-p", pub, "-s", sec)
	dir := moduleDir(t)
	runTool(t, tool, "-S", "-s", sec, "-m", filepath.Join(dir, manifest.FileName), filepath.Join(dir, "hello.wasm"))
	text, _ := os.ReadFile(pub)
	k, err := ParsePublicKey(string(text))
	if err != nil {
		t.Fatal(err)
	}
	k.Name = "tool"
	if got, err := Verify(dir, []Key{k}); err != nil || got.Name != "tool" {
		t.Fatalf("Verify of minisign's signatures = %+v, %v", got, err)
	}
	// And minisign's secret key signs here, for minisign to verify.
	b, _ := os.ReadFile(sec)
	sk, err := ParseSecretKey(b, "")
	if err != nil {
		t.Fatal(err)
	}
	if sk.ID() != k.ID {
		t.Fatalf("secret key ID %s, public %s", sk.ID(), k.ID)
	}
	other := moduleDir(t)
	if err := Sign(other, sk); err != nil {
		t.Fatal(err)
	}
	runTool(t, tool, "-V", "-H", "-p", pub, "-m", filepath.Join(other, "hello.wasm"))
	appendTo(t, filepath.Join(dir, "hello.wasm"), "\x00")
	if _, err := Verify(dir, []Key{k}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify of a module changed after minisign signed it: %v", err)
	}
}

// TestInterop_minisignVerifies: a key pair made here signs, and minisign
// -V (prehashed only, -H) verifies both files and refuses a changed one.
func TestInterop_minisignVerifies(t *testing.T) {
	tool := testutil.MinisignTool(t)
	pub, sec, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	pubFile, secFile := filepath.Join(keys, "a.pub"), filepath.Join(keys, "a.key")
	os.WriteFile(pubFile, pub, 0o644)
	os.WriteFile(secFile, sec, 0o600)
	sk, err := ParseSecretKey(sec, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := moduleDir(t)
	if err := Sign(dir, sk); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{manifest.FileName, "hello.wasm"} {
		out := runTool(t, tool, "-V", "-H", "-p", pubFile, "-m", filepath.Join(dir, f))
		if !strings.Contains(out, "file:"+f) {
			t.Errorf("minisign -V %s: trusted comment lacks the file name:\n%s", f, out)
		}
	}
	// minisign signs with the key made here, too.
	runTool(t, tool, "-S", "-W", "-s", secFile, "-m", filepath.Join(dir, "hello.wasm"), "-x", filepath.Join(keys, "by-tool.minisig"))
	runTool(t, tool, "-V", "-p", pubFile, "-m", filepath.Join(dir, "hello.wasm"), "-x", filepath.Join(keys, "by-tool.minisig"))
	appendTo(t, filepath.Join(dir, manifest.FileName), " ")
	if out, err := exec.Command(tool, "-V", "-p", pubFile, "-m", filepath.Join(dir, manifest.FileName)).CombinedOutput(); err == nil {
		t.Errorf("minisign -V accepted a changed manifest:\n%s", out)
	}
}

// FuzzVerify feeds arbitrary signature files: Verify must never panic, and
// must answer a signature it refuses with an *Error.
func FuzzVerify(f *testing.F) {
	alice, aliceKey := newKey(f, "alice")
	dir := signed(f, alice)
	good, _ := os.ReadFile(filepath.Join(dir, "manifest.json.minisig"))
	f.Add(good)
	f.Add([]byte("untrusted comment: x\n\ntrusted comment: y\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, sig []byte) {
		d := t.TempDir()
		for _, n := range []string{manifest.FileName, "hello.wasm", "hello.wasm.minisig"} {
			b, _ := os.ReadFile(filepath.Join(dir, n))
			os.WriteFile(filepath.Join(d, n), b, 0o644)
		}
		os.WriteFile(filepath.Join(d, "manifest.json.minisig"), sig, 0o644)
		_, err := Verify(d, []Key{aliceKey})
		if string(sig) == string(good) {
			if err != nil {
				t.Fatalf("the good signature: %v", err)
			}
			return
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("Verify: %v, not an *Error", err)
		}
	})
}

// TestUpdate_concurrent: changes made at once all survive (each reads,
// edits and writes the policy under its lock). Without the lock, 17 to 19
// of the 20 were lost in each of 5 runs.
func TestUpdate_concurrent(t *testing.T) {
	home := t.TempDir()
	const n = 20
	keys := make([]Key, n)
	for i := range keys {
		_, keys[i] = newKey(t, fmt.Sprintf("k%d", i))
	}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			if err := Update(home, func(p *Policy) error { return p.Add(k) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, err := Load(home)
	if err != nil || len(p.Keys) != n {
		t.Fatalf("Load: %d keys, %v; want %d", len(p.Keys), err, n)
	}
}
