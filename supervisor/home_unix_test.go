//go:build unix

package supervisor_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/supervisor"
)

// TestEnsureHome: a missing state directory is created private; an
// existing one is used only if no one else may write in it, and its mode
// is never changed (an earlier version chmodded whatever --home named,
// /tmp included, to 0700).
func TestEnsureHome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		make    func(t *testing.T, dir string) // nil: dir does not exist
		wantErr string                         // "" for none
		shared  bool                           // the error is ErrHomeShared
	}{
		{name: "missing, with missing parents", wantErr: ""},
		{name: "private", make: mkdirMode(0o700)},
		{name: "private, owner read only", make: mkdirMode(0o500)},
		{name: "readable by all, as mkdir makes it", make: mkdirMode(0o755)},
		{name: "group writable", make: mkdirMode(0o770), wantErr: "writable by others", shared: true},
		{name: "writable by all", make: mkdirMode(0o757), wantErr: "writable by others", shared: true},
		{name: "shared like /tmp", make: mkdirMode(0o777 | fs.ModeSticky), wantErr: "chmod 700", shared: true},
		{name: "another user's", make: func(t *testing.T, dir string) {
			mkdirMode(0o700)(t, dir)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Skipf("cannot give a directory away here (not root): %v", err)
			}
		}, wantErr: "owned by uid 65534", shared: true},
		{name: "a file", make: func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "is not a directory"},
		{name: "a link to a private directory", make: func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "real")
			mkdirMode(0o700)(t, target)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "home")
			var before fs.FileMode
			if tc.make != nil {
				if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
					t.Fatal(err)
				}
				tc.make(t, dir)
				fi, err := os.Stat(dir)
				if err != nil {
					t.Fatal(err)
				}
				before = fi.Mode()
			}
			err := supervisor.EnsureHome(dir)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("EnsureHome: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("EnsureHome: %v, want an error containing %q", err, tc.wantErr)
			case errors.Is(err, supervisor.ErrHomeShared) != tc.shared:
				t.Fatalf("EnsureHome: %v: errors.Is(ErrHomeShared) = %v, want %v", err, !tc.shared, tc.shared)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.make == nil {
				if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
					t.Fatalf("created %v, want a directory of mode 0700", fi.Mode())
				}
			} else if fi.Mode() != before {
				t.Fatalf("mode changed from %v to %v", before, fi.Mode())
			}
		})
	}
}

// mkdirMode makes dir with exactly mode, whatever the umask.
func mkdirMode(mode fs.FileMode) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNew_sharedHome: a supervisor on a shared directory refuses to start
// and leaves the directory as it was: no chmod, nothing created in it.
func TestNew_sharedHome(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	mkdirMode(0o777|fs.ModeSticky)(t, dir)
	s, err := supervisor.New(&supervisor.Options{Home: dir})
	if err == nil {
		s.Close()
		t.Fatal("New on a directory open to all: no error")
	}
	if !errors.Is(err, supervisor.ErrHomeShared) {
		t.Fatalf("New: %v, want ErrHomeShared", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Fatalf("mode is now %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("New wrote %d entries into the refused directory", len(entries))
	}
}
