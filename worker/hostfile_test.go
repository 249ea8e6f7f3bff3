//go:build linux

package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// fileGrants lays out a granted directory g (read-only at /g) beside a
// writable one (w, at /w) and a directory outside both, with the links,
// pipes and directories a hostile module would try, and returns the
// grants.
func fileGrants(t *testing.T) (root string, dirs []protocol.Dir) {
	t.Helper()
	root = t.TempDir()
	for _, d := range []string{"g/sub/deeper", "w", "outside"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"g/a.txt": "hello, file", "g/sub/b.txt": "bee", "g/sub/deeper/c.txt": "sea",
		"w/c.txt": "0123456789", "outside/secret": "SECRET",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"g/out":     "../outside/secret", // a link out of the grant
		"g/abs":     filepath.Join(root, "outside/secret"),
		"g/in":      "a.txt", // a link that stays inside: refused all the same
		"g/dirout":  "../outside",
		"g/proc":    "/proc",
		"g/sub/up":  "..",
		"g/selfdir": ".",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(root, "g/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, []protocol.Dir{
		{Host: filepath.Join(root, "g"), Guest: "/g"},
		{Host: filepath.Join(root, "w"), Guest: "/w", Writable: true},
		// The host's own procfs, granted read-only: its magic links
		// (/proc/N/root, cwd, fd/N) must not lead anywhere.
		{Host: "/proc", Guest: "/hostproc"},
	}
}

// TestHostFile_hostile runs hostfile.wasm's operations, hostile ones
// included, against real grants on the real engine, through both
// resolvers: openat2 (allowed in this unconfined test process) and the
// walk a confined worker uses (its seccomp filter answers openat2 ENOSYS).
// Errnos: 0 OK, 1 DENIED, 5 INVALID, 6 BADHANDLE, 7 LIMIT, 10 NOENT,
// 11 SYMLINK, 12 NOTFILE.
func TestHostFile_hostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"read", []string{"open", "/g", "a.txt", "cat", "$", "read", "$", "4", "close", "$"},
			"open /g a.txt: 0\ncat: 0 hello, file\nread: 0 0\nclose: 0\n"},
		{"nested, dots and slashes", []string{"open", "/g/", "sub/./deeper//c.txt", "cat", "$"},
			"open /g/ sub/./deeper//c.txt: 0\ncat: 0 sea\n"},
		{"dot-dot out", []string{"open", "/g", "../outside/secret"}, "open /g ../outside/secret: 5\n"},
		{"dot-dot inside", []string{"open", "/g", "sub/../a.txt"}, "open /g sub/../a.txt: 5\n"},
		{"absolute path", []string{"open", "/g", "/etc/passwd"}, "open /g /etc/passwd: 5\n"},
		{"empty path", []string{"open", "/g", ""}, "open /g : 5\n"},
		{"the grant itself", []string{"open", "/g", "."}, "open /g .: 12\n"},
		{"directory not granted", []string{"open", "/etc", "passwd"}, "open /etc passwd: 1\n"},
		{"parent of a grant", []string{"open", "/", "g/a.txt"}, "open / g/a.txt: 1\n"},
		{"below a grant as its name", []string{"open", "/g/sub", "b.txt"}, "open /g/sub b.txt: 1\n"},
		{"link out", []string{"open", "/g", "out"}, "open /g out: 11\n"},
		{"absolute link out", []string{"open", "/g", "abs"}, "open /g abs: 11\n"},
		{"link inside", []string{"open", "/g", "in"}, "open /g in: 11\n"},
		{"directory link out", []string{"open", "/g", "dirout/secret"}, "open /g dirout/secret: 11\n"},
		{"link up", []string{"open", "/g", "sub/up/a.txt"}, "open /g sub/up/a.txt: 11\n"},
		{"link to itself", []string{"open", "/g", "selfdir/a.txt"}, "open /g selfdir/a.txt: 11\n"},
		{"through a link to /proc", []string{"open", "/g", "proc/self/root/etc/passwd"}, "open /g proc/self/root/etc/passwd: 11\n"},
		{"through /proc/self", []string{"open", "/hostproc", "self/root/etc/passwd"}, "open /hostproc self/root/etc/passwd: 11\n"},
		{"through a magic link", []string{"open", "/hostproc", "1/root/etc/passwd"}, "open /hostproc 1/root/etc/passwd: 11\n"},
		{"through a descriptor's magic link", []string{"open", "/hostproc", "thread-self/fd/0"}, "open /hostproc thread-self/fd/0: 11\n"},
		{"a directory", []string{"open", "/g", "sub"}, "open /g sub: 12\n"},
		{"a pipe", []string{"open", "/g", "fifo"}, "open /g fifo: 12\n"},
		{"missing", []string{"open", "/g", "nope"}, "open /g nope: 10\n"},
		{"a file as a directory", []string{"open", "/g", "a.txt/x"}, "open /g a.txt/x: 10\n"},
		{"unknown flag", []string{"badflags", "/g", "a.txt"}, "badflags: 5\n"},
		{"write in a read-only grant", []string{"openw", "/g", "a.txt"}, "openw /g a.txt: 1\n"},
		{"write in a read-only grant, directory", []string{"openw", "/g", "sub"}, "openw /g sub: 1\n"},
		{"write in a writable grant", []string{"openw", "/w", "c.txt", "write", "$", "XY", "cat", "$", "close", "$"},
			"openw /w c.txt: 0\nwrite: 0 2\ncat: 0 23456789\nclose: 0\n"},
		{"write on a handle opened to read", []string{"open", "/w", "c.txt", "write", "$", "Z"},
			"open /w c.txt: 0\nwrite: 1 0\n"},
		{"handle after close", []string{"open", "/g", "a.txt", "close", "$", "read", "$", "4", "close", "$"},
			"open /g a.txt: 0\nclose: 0\nread: 6 0\nclose: 6\n"},
		{"handles never opened", []string{"read", "0", "4", "read", "1", "4", "read", "-1", "4", "close", "7"},
			"read: 6 0\nread: 6 0\nread: 6 0\nclose: 6\n"},
		{"too many handles", []string{"many", "/g", "a.txt", "100", "open", "/g", "a.txt", "close", "1", "open", "/g", "a.txt", "cat", "$"},
			"many: 16 opened, 7\nopen /g a.txt: 7\nclose: 0\nopen /g a.txt: 0\ncat: 0 hello, file\n"},
		{"buffer past memory", []string{"open", "/g", "a.txt", "oob-buf", "$", "cat", "$"},
			"open /g a.txt: 0\noob-buf: 5\ncat: 0 hello, file\n"},
		{"length past memory", []string{"open", "/g", "a.txt", "oob-len", "$", "read", "$", "-1"},
			"open /g a.txt: 0\noob-len: 5\nread: 5 0\n"},
		{"count past memory", []string{"open", "/g", "a.txt", "oob-out", "$", "cat", "$"},
			"open /g a.txt: 0\noob-out: 5\ncat: 0 hello, file\n"},
		{"path past memory", []string{"oob-path", "/g"}, "oob-path: 5\n"},
	} {
		for _, resolver := range []string{"openat2", "walk"} {
			t.Run(tc.name+"/"+resolver, func(t *testing.T) {
				if resolver == "walk" {
					noOpenat2.Store(true)
					defer noOpenat2.Store(false)
				}
				root, dirs := fileGrants(t)
				h, stdout, stderr := newHost(t)
				req := request(t, "hostfile.wasm", 64<<20)
				req.Dirs = dirs
				if _, err := h.Prepare(req); err != nil {
					t.Fatal(err)
				}
				before := testutil.OpenFDs(t)
				res, err := h.Run(&protocol.RunArgs{Args: append([]string{"hostfile"}, tc.args...), Timeout: time.Minute}, nil)
				if err != nil || res.Outcome != protocol.Exited || res.ExitCode != 0 {
					t.Fatalf("Run = %+v, %v; stderr %q", res, err, stderr)
				}
				if got := stdout.String(); got != tc.want {
					t.Errorf("output mismatch\n got: %q\nwant: %q", got, tc.want)
				}
				// Every file the module left open is closed with the call.
				if after := testutil.OpenFDs(t); after > before {
					t.Errorf("%d descriptors open after the call, %d before", after, before)
				}
				// Only the writable grant's file may change, only by its write.
				for name, text := range map[string]string{"g/a.txt": "hello, file", "outside/secret": "SECRET"} {
					if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != text {
						t.Errorf("%s = %q, %v; want %q unchanged", name, b, err, text)
					}
				}
				if strings.Contains(tc.name, "writable grant") {
					if b, _ := os.ReadFile(filepath.Join(root, "w/c.txt")); string(b) != "XY23456789" {
						t.Errorf("w/c.txt = %q, want the module's write at its start", b)
					}
				}
			})
		}
	}
}

// TestHostFile_noGrants: a module granted no directory links and runs, and
// every open is DENIED.
func TestHostFile_noGrants(t *testing.T) {
	h, stdout, stderr := newHost(t)
	if _, err := h.Prepare(request(t, "hostfile.wasm", 64<<20)); err != nil {
		t.Fatal(err)
	}
	res, err := h.Run(&protocol.RunArgs{Args: []string{"hostfile", "open", "/", "etc/passwd", "open", "/logs", "x"}, Timeout: time.Minute}, nil)
	if err != nil || res.Outcome != protocol.Exited || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; stderr %q", res, err, stderr)
	}
	if got, want := stdout.String(), "open / etc/passwd: 1\nopen /logs x: 1\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestCleanRelative(t *testing.T) {
	for _, tc := range []struct {
		path  string
		parts string
		errno protocol.Errno
	}{
		{"a", "a", protocol.OK},
		{"a/b/c", "a|b|c", protocol.OK},
		{"./a//b/", "a|b", protocol.OK},
		{"..", "", protocol.Invalid},
		{"a/../b", "", protocol.Invalid},
		{"a/..", "", protocol.Invalid},
		{"/a", "", protocol.Invalid},
		{"", "", protocol.Invalid},
		{"a\x00b", "", protocol.Invalid},
		{strings.Repeat("a", maxPathText+1), "", protocol.Invalid},
		{"./.", "", protocol.NotFile},
		{"...", "...", protocol.OK}, // a name, not a parent
	} {
		parts, e := cleanRelative(tc.path)
		if e != tc.errno || strings.Join(parts, "|") != tc.parts {
			t.Errorf("cleanRelative(%q) = %q, %v; want %q, %v", tc.path, parts, e, tc.parts, tc.errno)
		}
	}
}
