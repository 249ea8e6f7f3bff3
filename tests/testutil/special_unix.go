//go:build unix

package testutil

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Special is a file that is not a regular one, as a hostile module
// directory, archive or state file may hold instead of one.
type Special struct {
	// Name says what it is, for a subtest's name.
	Name string
	// Path is where it is.
	Path string
	// Kind is how a refusal names it ("a named pipe").
	Kind string
}

// Specials makes in dir one file of each kind that must be refused
// without blocking: a named pipe without a writer (opening it blocks
// unless told not to), a listening Unix socket (which open(2) cannot
// open), a link to the pipe, and a directory; and names /dev/null, a
// character device. Whatever a test does, the pipe gets a writer before
// the test ends, so that a reader stuck on it returns.
func Specials(t testing.TB, dir string) []Special {
	t.Helper()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnblockFIFO(fifo) })
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	return []Special{
		{"fifo", fifo, "a named pipe"},
		{"socket", sock, "a socket"},
		{"device", os.DevNull, "a character device"},
		{"directory", sub, "a directory"},
		{"link to a fifo", link, "a named pipe"},
	}
}

// UnblockFIFO opens the named pipe at path for writing, without blocking,
// and closes it: a reader blocked opening it returns, and reads EOF.
func UnblockFIFO(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

// Place puts the special file s at path, replacing what is there: moved
// (a named pipe, a socket, a directory, a link), or linked to (a device),
// so that a reader finds it under the name it reads (manifest.json); and
// makes sure a reader stuck on a pipe there returns when the test ends.
func Place(t testing.TB, s Special, path string) {
	t.Helper()
	os.RemoveAll(path)
	var err error
	if s.Path == os.DevNull {
		err = os.Symlink(s.Path, path)
	} else {
		err = os.Rename(s.Path, path)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnblockFIFO(path) })
}
