//go:build unix

package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// TestEntryCache_refuses: only a sound regular file with one link, owned
// by the supervisor's user and writable by no one else, is handed to a
// worker as verified; anything else is left for the worker to check.
func TestEntryCache_refuses(t *testing.T) {
	good := validEntry(t, 64<<10)
	flipped := append([]byte(nil), good...)
	flipped[100] ^= 0xff
	tests := []struct {
		name    string
		plant   func(t *testing.T, p string)
		wantErr error
	}{
		{"missing", func(*testing.T, string) {}, os.ErrNotExist},
		{"group writable", func(t *testing.T, p string) { write(t, p, good, 0o620) }, errEntryNotOurs},
		{"others writable", func(t *testing.T, p string) { write(t, p, good, 0o602) }, errEntryNotOurs},
		{"another owner", func(t *testing.T, p string) {
			write(t, p, good, 0o600)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, errEntryNotOurs},
		{"hard link", func(t *testing.T, p string) {
			write(t, p+".other", good, 0o600)
			if err := os.Link(p+".other", p); err != nil {
				t.Fatal(err)
			}
		}, errEntryNotOurs},
		{"symbolic link", func(t *testing.T, p string) {
			write(t, p+".other", good, 0o600)
			symlink(t, p+".other", p)
		}, syscall.ELOOP},
		{"FIFO", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, errEntryNotOurs},
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, errEntryNotOurs},
		{"bad checksum", func(t *testing.T, p string) { write(t, p, flipped, 0o600) }, cache.ErrCorrupt},
		{"truncated", func(t *testing.T, p string) { write(t, p, good[:len(good)-1], 0o600) }, cache.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "entry.cwasm")
			tc.plant(t, p)
			var c entryCache
			f, err := c.open(p)
			if err == nil {
				f.Close()
				t.Fatal("entry handed over as verified")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestEntryCache_identity: a verified entry is not hashed again while its
// identity holds; changed in place, it is verified again (and refused if
// no longer sound); changed within racyWindow, it is not remembered.
func TestEntryCache_identity(t *testing.T) {
	good := validEntry(t, 64<<10)
	p := filepath.Join(t.TempDir(), "entry.cwasm")
	write(t, p, good, 0o600)
	open := func(c *entryCache) error {
		f, err := c.open(p)
		if err == nil {
			f.Close()
		}
		return err
	}

	t.Run("fresh entry is not remembered", func(t *testing.T) {
		var c entryCache
		for range 2 {
			if err := open(&c); err != nil {
				t.Fatal(err)
			}
		}
		if c.hashed != 2 {
			t.Fatalf("hashed %d times, want 2: a file changed within the last %s must be hashed again", c.hashed, racyWindow)
		}
	})

	old := racyWindow
	racyWindow = 0
	t.Cleanup(func() { racyWindow = old })
	var c entryCache
	for range 3 {
		if err := open(&c); err != nil {
			t.Fatal(err)
		}
	}
	if c.hashed != 1 {
		t.Fatalf("hashed %d times, want 1", c.hashed)
	}
	// Changed in place, through the same inode: the identity changes.
	bad := append([]byte(nil), good...)
	bad[10] ^= 0xff
	bad = append(bad, 0)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bad, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := open(&c); !errors.Is(err, cache.ErrCorrupt) {
		t.Fatalf("entry changed in place: got %v, want it verified again and refused", err)
	}
	if c.hashed != 2 {
		t.Fatalf("hashed %d times, want 2", c.hashed)
	}
}

func write(t *testing.T, p string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}
