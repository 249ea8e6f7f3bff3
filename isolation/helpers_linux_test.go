//go:build linux && cgo

package isolation

import (
	"net"
	"os"
	"testing"
)

// Set-up the container tests share: each fails the test at once, and what
// it opens is closed when the test ends.

// writeFile writes data to the file at path, made with mode 0600 if new
// (root's: a worker reaches it only through an ID-mapped mount).
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openFile opens path for reading, as a Mount's File.
func openFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// listen listens on network and address: a host service that a worker
// must not reach.
func listen(t testing.TB, network, address string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
