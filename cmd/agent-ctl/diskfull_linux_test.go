package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tmpfsHome mounts a tmpfs of size (mount's syntax: "2m") as a fresh
// AGENTCTL_HOME, unmounted when the test ends.
func tmpfsHome(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting the test's tmpfs %s: %v", dir, err)
		}
	})
	return filepath.Join(dir, "home")
}

// TestInstall_diskFull: a home on a full disk is said to be full, with
// agent-ctl's own exit code, never as an invalid module (126).
func TestInstall_diskFull(t *testing.T) {
	t.Run("module copy", func(t *testing.T) {
		// update-config's module is 4.9 MB: it cannot be copied in.
		home := tmpfsHome(t, "2m")
		code, out, errs := runIn(t, home, "", "install", "--yes", repoPath("modules/update-config"))
		expect(t, "install on a full disk", code, out, errs, 125, "", "no space left on device")
		if !strings.Contains(errs, "is full") {
			t.Errorf("stderr %q does not say the disk is full", errs)
		}
	})
	t.Run("compiled code", func(t *testing.T) {
		// hello's 25 KB module fits; its 120 KB of compiled code does not.
		home := tmpfsHome(t, "100k")
		code, out, errs := runIn(t, home, "", "install", "--yes", repoPath("modules/hello"))
		expect(t, "install with no room for compiled code", code, out, errs, 0, "installed hello", "not precompiled")
		if !strings.Contains(errs, "no space left on device") {
			t.Errorf("stderr %q does not say why the module was not precompiled", errs)
		}
		// The tool still runs: it compiles, and says it could not cache.
		code, out, errs = runIn(t, home, "", "--no-audit", "hello", "--name", "disk") // no room for the audit log either
		expect(t, "call", code, out, errs, 0, "hello, disk\n", "")
	})
}
