//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestGrants_symlinks: `grant` and `run --dir` refuse a path with a link
// in it, and an installed tool's grant whose directory is later replaced by
// a link fails its next call instead of following it (issue 11, item 1).
func TestGrants_symlinks(t *testing.T) {
	home, base := t.TempDir(), t.TempDir()
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "notes.txt"), []byte("granted content\n"), 0o644)
	secret := filepath.Join(base, "secret")
	if err := os.Mkdir(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(secret, "notes.txt"), []byte("SECRET\n"), 0o600)
	link := filepath.Join(base, "link")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	mod := catModule(t, data)
	code, out, errs := runIn(t, home, "", "install", mod)
	expect(t, "install", code, out, errs, 0, "", "")

	code, out, errs = runIn(t, home, "", "grant", "catdata", "--dir", link+":/data:ro")
	expect(t, "grant through a link", code, out, errs, 125, "", link+" is a symbolic link; grant the real path")
	code, out, errs = runCLI(t, "", "run", "--dir", link+":/data", fixtures.Path("cat.wasm"), "--", "/data/notes.txt")
	expect(t, "run --dir through a link", code, out, errs, 125, "", link+" is a symbolic link; grant the real path")

	// Granted as a real directory, then replaced by a link to the secret.
	code, out, errs = runIn(t, home, "", "grant", "catdata", "--dir", data+":/data:ro")
	expect(t, "grant", code, out, errs, 0, "", "")
	code, out, errs = runIn(t, home, "", "catdata", "/data/notes.txt")
	expect(t, "granted", code, out, errs, 0, "granted content\n", "")
	if err := os.Rename(data, data+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, data); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runIn(t, home, "", "catdata", "/data/notes.txt")
	expect(t, "grant replaced by a link", code, out, errs, 125, "", data+" is a symbolic link; grant the real path")
	if strings.Contains(out, "SECRET") {
		t.Errorf("the call read the secret: %q", out)
	}
}
