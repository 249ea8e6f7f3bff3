//go:build unix

package statefile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
	"golang.org/x/sys/unix"
)

// TestReadFile_notRegular: ReadFile, Open and CopyNew refuse, at once and
// naming the file and what it is, whatever is not a regular file. Before
// they opened without O_NONBLOCK, the named pipe (and the link to it)
// blocked them until a writer came: these subtests hit the deadline.
func TestReadFile_notRegular(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	copies := t.TempDir()
	calls := []struct {
		name string
		call func(path string) error
	}{
		{"ReadFile", func(p string) error { _, err := statefile.ReadFile(p, 1<<10); return err }},
		{"Open", func(p string) error {
			f, err := statefile.Open(p)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"CopyNew", func(p string) error {
			_, err := statefile.CopyNew(p, filepath.Join(copies, filepath.Base(p)), 1<<10)
			return err
		}},
	}
	for _, s := range append(testutil.Specials(t, dir), testutil.Special{Name: "regular", Path: regular}) {
		for _, c := range calls {
			t.Run(c.name+"/"+s.Name, func(t *testing.T) {
				kind := s.Kind
				if c.name == "CopyNew" && s.Name == "link to a fifo" {
					kind = "a symbolic link" // CopyNew follows no link
				}
				err := testutil.Within(t, 60*time.Second, c.name+" "+s.Path, func() error { return c.call(s.Path) })
				if kind == "" {
					if err != nil {
						t.Fatalf("%s of a regular file: %v", c.name, err)
					}
					return
				}
				want := s.Path + " is " + kind + ", not a regular file"
				if !errors.Is(err, statefile.ErrNotRegular) || err.Error() != want {
					t.Fatalf("got %v, want %q (ErrNotRegular)", err, want)
				}
			})
		}
	}
}

// TestOpen_blocking: the file Open returns reads as a blocking one (its
// O_NONBLOCK, which only the open needed, is cleared), and is closed on
// exec.
func TestOpen_blocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := statefile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	status, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if status&unix.O_NONBLOCK != 0 || fd&unix.FD_CLOEXEC == 0 {
		t.Errorf("status flags %#x, descriptor flags %#x: want no O_NONBLOCK, FD_CLOEXEC", status, fd)
	}
	if b, err := io.ReadAll(f); err != nil || len(b) != 100 {
		t.Errorf("read %d bytes, %v; want 100", len(b), err)
	}
}
