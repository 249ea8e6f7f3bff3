// Package registrytest starts a real OCI registry for tests: Debian's
// docker-registry (the CNCF distribution registry), on a free loopback
// port, with its storage in the test's temporary directory, so that tests
// can also reach into the storage and tamper with a blob.
package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Binary is the registry Debian's docker-registry package installs (the
// Makefile's deps target installs it).
const Binary = "/usr/bin/docker-registry"

// Registry is a running registry.
type Registry struct {
	// Host is HOST:PORT on 127.0.0.1.
	Host string
	// Root is its storage directory.
	Root string
}

// User and Password are the one account of a registry started with
// StartAuth. The hash is bcrypt's (cost 4) of Password, made once.
const (
	User     = "agent"
	Password = "s3cret-test-only"
	htpasswd = User + ":$2a$04$hS.OM8LnPHMM7yVC7gERp.b.tKihBP8xxxycK7uIPbzlGh3WFMnzm\n"
)

// Start starts a registry that lives as long as the test.
func Start(t testing.TB) *Registry { return start(t, false) }

// StartAuth starts a registry that answers only User with Password (HTTP
// basic authentication over loopback).
func StartAuth(t testing.TB) *Registry { return start(t, true) }

func start(t testing.TB, withAuth bool) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("skipping: %s not installed (make deps installs the docker-registry package): %v", Binary, err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "storage")
	for attempt := 0; ; attempt++ {
		host := freePort(t)
		conf := filepath.Join(dir, "config.yml")
		// No notifications, no proxy, no reporting: it talks to nothing
		// but its clients on loopback.
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: registrytest
`, root, host)
		if withAuth {
			pw := filepath.Join(dir, "htpasswd")
			if err := os.WriteFile(pw, []byte(htpasswd), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: registrytest\n    path: %s\n", pw)
		}
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.Command(Binary, "serve", conf)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		if err := waitReady(host, exited); err == nil {
			return &Registry{Host: host, Root: root}
		} else if attempt >= 2 || !strings.Contains(out.String(), "address already in use") {
			t.Fatalf("starting %s: %v\n%s", Binary, err, out.String())
		}
	}
}

// freePort returns 127.0.0.1:PORT of a port free a moment ago; Start
// tries again if another process took it meanwhile.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady polls /v2/ until the registry answers, it exits, or a minute
// (a loaded 2-core machine) passes.
func waitReady(host string, exited <-chan struct{}) error {
	deadline := time.Now().Add(time.Minute)
	client := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("registry exited")
		default:
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 401: up, and asking for credentials.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("registry not ready within a minute")
}

// BlobPath is where the registry keeps the blob of a digest (sha256:HEX).
func (r *Registry) BlobPath(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.Root, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}
