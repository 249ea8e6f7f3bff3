package testutil

import (
	"os"
	"syscall"
	"testing"
)

// ReadOnlyBind makes dir read-only by bind-mounting it read-only on
// itself, unmounted when the test ends: a directory nothing can write to,
// root included. It needs root; without it the test is skipped, saying so.
func ReadOnlyBind(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a read-only bind mount needs root")
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mounting %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	if err := syscall.Mount("", dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting %s read-only: %v", dir, err)
	}
}
