package main

import (
	"os"
	"path/filepath"
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
	for _, tc := range []struct {
		name   string
		size   string // the home's tmpfs, in mount's syntax
		module string // under modules/
		code   int
		stdout string   // substring
		stderr []string // substrings, each
		call   bool     // the tool is installed: call it
	}{
		// update-config's module is 4.9 MB: it cannot be copied in.
		{"module copy", "2m", "update-config", 125, "", []string{"no space left on device", "is full"}, false},
		// hello's 25 KB module fits; its 120 KB of compiled code does not.
		{"compiled code", "100k", "hello", 0, "installed hello", []string{"not precompiled", "no space left on device"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := tmpfsHome(t, tc.size)
			code, out, errs := runIn(t, home, "", "install", "--yes", repoPath("modules/"+tc.module))
			for _, want := range tc.stderr {
				expect(t, "install on a full disk", code, out, errs, tc.code, tc.stdout, want)
			}
			if tc.call {
				// The tool still runs: it compiles, and says it could not cache.
				code, out, errs = runIn(t, home, "", "--no-audit", tc.module, "--name", "disk") // no room for the audit log either
				expect(t, "call", code, out, errs, 0, "hello, disk\n", "")
			}
		})
	}
}
