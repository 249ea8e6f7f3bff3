//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestHostFile_confined runs the agent_ctl file functions in real workers
// under each isolation: a confined worker's seccomp filter answers openat2
// ENOSYS, so its grants are resolved by the component walk, from the
// descriptor it inherited (process) or the mount the supervisor made
// (container). The worker package's TestHostFile_hostile covers every
// hostile case in process; these are the ones the walls could change.
// Errnos: 0 OK, 1 DENIED, 5 INVALID, 7 LIMIT, 11 SYMLINK, 12 NOTFILE.
func TestHostFile_confined(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"g/sub", "w", "outside"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{"g/a.txt": "hello, file", "w/c.txt": "0123", "outside/secret": "SECRET"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"g/out": "../outside/secret", "g/dirout": "../outside", "g/proc": "/proc"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{
		"open", "/g", "a.txt", "cat", "$",
		"open", "/g", "out", "open", "/g", "dirout/secret", "open", "/g", "proc/self/root/etc/passwd",
		"open", "/g", "../outside/secret", "open", "/g", "sub",
		"openw", "/g", "a.txt", "openw", "/w", "c.txt", "write", "$", "XY",
		"many", "/g", "a.txt", "100", "oob-buf", "1",
	}
	want := "open /g a.txt: 0\ncat: 0 hello, file\n" +
		"open /g out: 11\nopen /g dirout/secret: 11\nopen /g proc/self/root/etc/passwd: 11\n" +
		"open /g ../outside/secret: 5\nopen /g sub: 12\n" +
		"openw /g a.txt: 1\nopenw /w c.txt: 0\nwrite: 0 2\n" +
		"many: 14 opened, 7\noob-buf: 5\n"
	for _, iso := range []string{"container", "process"} {
		t.Run(iso, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(root, "w/c.txt"), []byte("0123"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append([]string{"--home", t.TempDir(), "run", "--isolation", iso,
				"--dir", filepath.Join(root, "g") + ":/g", "--dir", filepath.Join(root, "w") + ":/w:rw",
				fixtures.Path("hostfile.wasm"), "--"}, args...)...)
			var stderr []byte
			out, err := cmd.Output()
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			if err != nil || string(out) != want {
				t.Fatalf("run: %v, stderr %q\n got: %q\nwant: %q", err, stderr, out, want)
			}
			if b, _ := os.ReadFile(filepath.Join(root, "w/c.txt")); string(b) != "XY23" {
				t.Errorf("w/c.txt = %q, want XY23", b)
			}
			if b, _ := os.ReadFile(filepath.Join(root, "g/a.txt")); string(b) != "hello, file" {
				t.Errorf("g/a.txt = %q, want it unchanged", b)
			}
		})
	}
}
