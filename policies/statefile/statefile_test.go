package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the state: %v", entries)
	}
}

func TestLock_releaseTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	for range 2 {
		l, err := Lock(path)
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
		l.Release()
	}
	var none *Held
	none.Release()
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest.json")
	for _, tc := range []struct {
		size    int
		limit   int64
		wantErr string
	}{
		{0, 4, ""},
		{4, 4, ""},
		{5, 4, "manifest.json is larger than 4 bytes"},
		{1 << 20, 4, "manifest.json is larger than 4 bytes"},
	} {
		if err := os.WriteFile(path, make([]byte, tc.size), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := ReadFile(path, tc.limit)
		switch {
		case tc.wantErr == "" && (err != nil || len(b) != tc.size):
			t.Errorf("%d bytes, limit %d: read %d bytes, %v", tc.size, tc.limit, len(b), err)
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrTooLarge)):
			t.Errorf("%d bytes, limit %d: error %v, want %q and ErrTooLarge", tc.size, tc.limit, err, tc.wantErr)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), 4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}
