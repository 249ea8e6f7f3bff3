package statefile_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

func TestCopyNew(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	haveLink := runtime.GOOS != "windows" && os.Symlink(src, link) == nil
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     string
		dst     string
		limit   int64
		want    string // the copy's content; "" with wantErr
		wantErr bool
	}{
		{"whole", src, "a", 100, "0123456789", false},
		{"cut at the limit", src, "b", 4, "0123", false},
		{"one more than the file", src, "c", 11, "0123456789", false},
		{"a link refused", link, "d", 100, "", true},
		{"a directory refused", dir, "e", 100, "", true},
		{"a missing source", filepath.Join(dir, "none"), "f", 100, "", true},
		{"an existing destination refused", src, "existing", 100, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.src == link && !haveLink {
				t.Skip("no symbolic links here")
			}
			dst := filepath.Join(dir, tt.dst)
			n, err := statefile.CopyNew(tt.src, dst, tt.limit)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("CopyNew(%s) = %d, nil; want an error", tt.src, n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(dst)
			if err != nil || string(b) != tt.want || n != int64(len(tt.want)) {
				t.Fatalf("copied %d bytes %q (%v), want %q", n, b, err, tt.want)
			}
			if fi, _ := os.Stat(dst); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}
