//go:build unix

package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLockFile: while LockFile (or Lock) holds the lock, another open
// file of the same lock file cannot take it; once UnlockFile (or
// Release) gives it up, it can.
func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	lockPath := path + ".lock"
	for _, tc := range []struct {
		name string
		take func(t *testing.T) (release func())
	}{
		{"LockFile", func(t *testing.T) func() {
			f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if err := LockFile(f); err != nil {
				t.Fatal(err)
			}
			return func() { UnlockFile(f) }
		}},
		{"Lock", func(t *testing.T) func() {
			l, err := Lock(path)
			if err != nil {
				t.Fatal(err)
			}
			return l.Release
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := tc.take(t)
			other, err := os.Open(lockPath)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			try := func() error { return unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB) }
			if err := try(); !errors.Is(err, unix.EWOULDBLOCK) {
				t.Fatalf("another file took the lock while it was held: %v", err)
			}
			release()
			if err := try(); err != nil {
				t.Fatalf("another file cannot take the lock once released: %v", err)
			}
			UnlockFile(other)
		})
	}
}
