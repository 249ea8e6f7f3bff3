//go:build unix

package supervisor

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// validEntry returns a sound cache entry (payload, its SHA-256, the magic
// of worker/cache.go) of about n bytes.
func validEntry(t *testing.T, n int) []byte {
	t.Helper()
	payload := bytes.Repeat([]byte("compiled code "), n/14+1)
	sum := sha256.Sum256(payload)
	b := append(append(payload, sum[:]...), "agent-ctl.cwasm1"...)
	p := filepath.Join(t.TempDir(), "check.cwasm")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cache.Verify(p); err != nil {
		t.Fatalf("test entry is not sound: %v", err)
	}
	return b
}

// TestPromoteCompiled plants in a call directory what a worker taken over
// while compiling could leave as its output, and checks that the supervisor
// refuses each, without blocking or reading without bound, and that
// nothing reaches the cache. A module cannot do this (the worker writes the
// file), so promoteCompiled is called directly.
func TestPromoteCompiled(t *testing.T) {
	entry := validEntry(t, 64<<10)
	const limit = 1 << 20
	outside := t.TempDir()
	goodOutside := filepath.Join(outside, "good.cwasm")
	if err := os.WriteFile(goodOutside, entry, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("root's secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) func(t *testing.T, out string) {
		return func(t *testing.T, out string) {
			if err := os.WriteFile(out, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		plant func(t *testing.T, out string)
		// want is a substring of the error; empty means promoted.
		want string
		// dirLink makes the call directory itself a symbolic link to a
		// directory holding a sound entry.
		dirLink bool
	}{
		{"sound entry", write(entry), "", false},
		{"symlink to /dev/zero", func(t *testing.T, out string) { symlink(t, "/dev/zero", out) }, "is a symbolic link", false},
		{"symlink to a sound entry", func(t *testing.T, out string) { symlink(t, goodOutside, out) }, "is a symbolic link", false},
		{"relative symlink", func(t *testing.T, out string) {
			// To a sound entry in the state directory, above the call
			// directory: what a worker can name from inside.
			home := filepath.Dir(filepath.Dir(filepath.Dir(out)))
			write(entry)(t, filepath.Join(home, "good.cwasm"))
			symlink(t, "../../good.cwasm", out)
		}, "is a symbolic link", false},
		{"symlink to a secret", func(t *testing.T, out string) { symlink(t, secret, out) }, "is a symbolic link", false},
		{"dangling symlink", func(t *testing.T, out string) { symlink(t, "/nonexistent", out) }, "is a symbolic link", false},
		{"FIFO", func(t *testing.T, out string) {
			if err := syscall.Mkfifo(out, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "it is a FIFO", false},
		{"directory", func(t *testing.T, out string) {
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "it is a directory", false},
		{"socket", func(t *testing.T, out string) {
			fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: out}); err != nil {
				t.Fatal(err)
			}
		}, "no such device or address", false}, // open(2) refuses a socket: ENXIO
		{"hard link to a sound entry", func(t *testing.T, out string) {
			if err := os.Link(goodOutside, out); err != nil {
				t.Fatal(err)
			}
		}, "it has 2 links", false},
		{"oversize", write(validEntry(t, limit)), "above the 1048576-byte bound", false},
		{"sparse and huge", func(t *testing.T, out string) {
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(1 << 40); err != nil {
				t.Fatal(err)
			}
		}, "above the 1048576-byte bound", false},
		{"corrupt", write(append(bytes.Clone(entry[:len(entry)-20]), make([]byte, 20)...)), "no valid trailer", false},
		{"flipped byte", func(t *testing.T, out string) {
			c := bytes.Clone(entry)
			c[100] ^= 1
			write(c)(t, out)
		}, "fails its checksum", false},
		{"missing", func(*testing.T, string) {}, "no such file", false},
		{"call directory is a symlink", write(entry), "opening call directory", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			cacheDir := filepath.Join(home, "cache")
			callDir := filepath.Join(home, "tmp", "call-1-x")
			for _, d := range []string{cacheDir, callDir} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			tt.plant(t, filepath.Join(callDir, compiledName))
			if tt.dirLink {
				real := callDir + "-real"
				if err := os.Rename(callDir, real); err != nil {
					t.Fatal(err)
				}
				symlink(t, real, callDir)
			}
			cacheFile := filepath.Join(cacheDir, "key.cwasm")
			done := make(chan error, 1)
			go func() { done <- promoteCompiled(callDir, cacheFile, limit) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("promoteCompiled still running after 30s (blocked on a FIFO or reading without bound)")
			}
			entries, _ := os.ReadDir(cacheDir)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("promoteCompiled: %v", err)
				}
				got, rerr := os.ReadFile(cacheFile)
				if rerr != nil || !bytes.Equal(got, entry) {
					t.Fatalf("cache holds %d bytes (%v), want the %d-byte entry", len(got), rerr, len(entry))
				}
				fi, _ := os.Lstat(cacheFile)
				if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
					t.Errorf("cache entry mode %v, want a regular file 0600", fi.Mode())
				}
				if len(entries) != 1 {
					t.Errorf("cache directory holds %d files, want 1", len(entries))
				}
				return
			}
			if err == nil {
				t.Fatalf("promoteCompiled accepted it; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if len(entries) != 0 {
				t.Errorf("cache directory holds %v after a refusal, want nothing", entries)
			}
			if b, _ := os.ReadFile(goodOutside); !bytes.Equal(b, entry) {
				t.Error("the planted link's target changed")
			}
		})
	}
}

// TestPromoteCompiled_keepsGoodEntry: a sound entry already in the cache
// stays (a container may be about to mount that very file).
func TestPromoteCompiled_keepsGoodEntry(t *testing.T) {
	home := t.TempDir()
	old, fresh := validEntry(t, 1000), validEntry(t, 2000)
	cacheFile := filepath.Join(home, "key.cwasm")
	if err := os.WriteFile(cacheFile, old, 0o600); err != nil {
		t.Fatal(err)
	}
	callDir := filepath.Join(home, "call")
	if err := os.Mkdir(callDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(callDir, compiledName), fresh, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := promoteCompiled(callDir, cacheFile, 1<<20); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cacheFile); !bytes.Equal(b, old) {
		t.Error("a sound entry in the cache was replaced")
	}
	if m, _ := filepath.Glob(filepath.Join(home, promoteTempPrefix+"*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestCompiledLimit(t *testing.T) {
	for _, tc := range []struct{ size, want int64 }{
		{0, compiledSlack},
		{78, 16*78 + compiledSlack},
		{8519366, 16*8519366 + compiledSlack},
		{MaxModuleSize + 1, 16*MaxModuleSize + compiledSlack},
		{-1, compiledSlack},
	} {
		if got := compiledLimit(tc.size); got != tc.want {
			t.Errorf("compiledLimit(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
}

// TestSweepPromoteTemps: a partial entry of a supervisor that died is
// removed; one of a live supervisor (this one) stays.
func TestSweepPromoteTemps(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, fmt.Sprintf("%s%d-123", promoteTempPrefix, cmd.Process.Pid))
	live := filepath.Join(dir, fmt.Sprintf("%s%d-456", promoteTempPrefix, os.Getpid()))
	other := filepath.Join(dir, "entry.cwasm")
	for _, f := range []string{dead, live, other} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sweepPromoteTemps(dir)
	for f, want := range map[string]bool{dead: false, live: true, other: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
}

// TestPromoteCompiled_exchanged: the worker flips its output between a
// sound regular file and a symbolic link to another sound entry
// (renameat2 RENAME_EXCHANGE) while the supervisor promotes. The cache must
// only ever get a regular file with the regular file's bytes. The old
// promote (check by name, then rename by name) put the link into the cache
// in round 0, 1 or 2 of 5 runs; 200 rounds are far more than that.
func TestPromoteCompiled_exchanged(t *testing.T) {
	const rounds = 200
	mine, theirs := validEntry(t, 4096), validEntry(t, 8192)
	outside := filepath.Join(t.TempDir(), "theirs.cwasm")
	if err := os.WriteFile(outside, theirs, 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cacheFile := filepath.Join(home, "cache", "key.cwasm")
	if err := os.MkdirAll(filepath.Dir(cacheFile), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		callDir := filepath.Join(home, fmt.Sprintf("call-%d", i))
		if err := os.Mkdir(callDir, 0o700); err != nil {
			t.Fatal(err)
		}
		out, alt := filepath.Join(callDir, compiledName), filepath.Join(callDir, "alt")
		if err := os.WriteFile(out, mine, 0o600); err != nil {
			t.Fatal(err)
		}
		symlink(t, outside, alt)
		stop := make(chan struct{})
		flipped := make(chan struct{})
		go func() {
			defer close(flipped)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if unix.Renameat2(unix.AT_FDCWD, out, unix.AT_FDCWD, alt, unix.RENAME_EXCHANGE) != nil {
					return // the old promote moved one of them away
				}
			}
		}()
		err := promoteCompiled(callDir, cacheFile, 1<<20)
		close(stop)
		<-flipped
		fi, lerr := os.Lstat(cacheFile)
		switch {
		case lerr != nil:
			if err == nil {
				t.Fatalf("round %d: promoted, but no cache entry: %v", i, lerr)
			}
		case !fi.Mode().IsRegular():
			t.Fatalf("round %d: the cache entry is a %v, not a regular file (err %v)", i, fi.Mode().Type(), err)
		default:
			if b, _ := os.ReadFile(cacheFile); !bytes.Equal(b, mine) {
				t.Fatalf("round %d: the cache entry holds the link target's bytes", i)
			}
		}
		os.Remove(cacheFile)
		os.RemoveAll(callDir)
	}
}
