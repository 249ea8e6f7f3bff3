package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/registrytest"
)

// TestOCI_publishInstall publishes modules/hello to a real registry on
// loopback and installs it back by tag and by digest, through the same
// install path as a directory: the tool runs, and nothing is left in the
// home's temporary directory.
func TestOCI_publishInstall(t *testing.T) {
	reg := registrytest.Start(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials: the registry needs none
	ref := "oci://" + reg.Host + "/tools/hello:1.0.0"
	code, out, errs := runIn(t, t.TempDir(), "", "publish", "--plain-http", repoPath("modules/hello"), ref)
	expect(t, "publish", code, out, errs, 0, "sha256:", "")
	digest := strings.TrimSpace(out)
	if len(digest) != 71 {
		t.Fatalf("publish printed %q, want the artifact's digest alone", out)
	}
	tests := []struct{ name, ref string }{
		{"by tag", ref},
		{"by digest", "oci://" + reg.Host + "/tools/hello@" + digest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			code, out, errs := runIn(t, home, "", "install", "--isolation", "process", "--plain-http", tt.ref)
			expect(t, "install", code, out, errs, 0, "installed hello 1.0.0", "fetched "+tt.ref+" ("+digest+")")
			code, out, errs = runIn(t, home, "", "hello", "--name", "registry")
			expect(t, "call", code, out, errs, 0, "hello, registry\n", "")
			if left, _ := os.ReadDir(filepath.Join(home, "tmp")); len(left) != 0 {
				t.Errorf("install left %d entries in %s", len(left), filepath.Join(home, "tmp"))
			}
		})
	}
}

// TestOCI_refused: what a registry serves wrong is refused as a bad module
// directory is (exit 126), and nothing is installed.
func TestOCI_refused(t *testing.T) {
	reg := registrytest.Start(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ref := "oci://" + reg.Host + "/tools/hello:1.0.0"
	if code, out, errs := runIn(t, t.TempDir(), "", "publish", "--plain-http", repoPath("modules/hello"), ref); code != 0 {
		t.Fatalf("publish: exit %d %s %s", code, out, errs)
	}
	wasm := readRepoFile(t, "modules/hello/hello.wasm")
	blob := reg.BlobPath(sha256Hex(wasm))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1
	if err := os.WriteFile(blob, b, 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", "--plain-http", ref)
	expect(t, "install of a tampered artifact", code, out, errs, 126, "", "artifact refused: layer \"hello.wasm\": mismatched digest")
	code, out, errs = runIn(t, home, "", "list")
	expect(t, "list", code, out, errs, 0, "no tools installed", "")

	code, _, errs = runIn(t, home, "", "install", ref)
	if code == 0 || !strings.Contains(errs, "http") {
		t.Errorf("install over HTTPS from a plain-HTTP registry: exit %d stderr %q, want it to fail", code, errs)
	}
	code, out, errs = runIn(t, home, "", "install", "--plain-http", "oci://"+reg.Host+"/tools/hello")
	expect(t, "install without a tag", code, out, errs, 125, "", "name a tag")
	code, out, errs = runIn(t, home, "", "install", "--plain-http", repoPath("modules/hello"))
	expect(t, "--plain-http with a directory", code, out, errs, 125, "", "--plain-http goes with an oci:// reference")
}

func sha256Hex(b []byte) string {
	return "sha256:" + fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestOCI_dockerConfig: publish and install read the registry's password
// from $DOCKER_CONFIG/config.json, as docker and oras leave it.
func TestOCI_dockerConfig(t *testing.T) {
	reg := registrytest.StartAuth(t)
	ref := "oci://" + reg.Host + "/tools/hello:1.0.0"
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	code, out, errs := runIn(t, t.TempDir(), "", "publish", "--plain-http", repoPath("modules/hello"), ref)
	expect(t, "publish without credentials", code, out, errs, 125, "", "credential not found")

	conf := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(registrytest.User + ":" + registrytest.Password))
	if err := os.WriteFile(filepath.Join(conf, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", conf)
	code, out, errs = runIn(t, t.TempDir(), "", "publish", "--plain-http", repoPath("modules/hello"), ref)
	expect(t, "publish", code, out, errs, 0, "sha256:", "")
	home := t.TempDir()
	code, out, errs = runIn(t, home, "", "install", "--isolation", "process", "--plain-http", ref)
	expect(t, "install", code, out, errs, 0, "installed hello 1.0.0", "")
}
