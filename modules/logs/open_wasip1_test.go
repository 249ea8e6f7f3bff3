//go:build wasip1

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenFile: under agent-ctl (make test-wasm grants a directory at
// exactly /tmp), a plain file below a grant is read by the host's file
// functions; what the host refuses is read through WASI, with the same
// bytes: a link (the host never follows one), a root that is not itself
// a grant, and the grant itself.
func TestOpenFile(t *testing.T) {
	const root = "/tmp"
	if _, err := os.Stat(root); err != nil {
		t.Skipf("needs a directory granted at %s (make test-wasm): %v", root, err)
	}
	dir, err := os.MkdirTemp(root, "open")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sub := filepath.Base(dir)
	// Larger than one read of bufio's buffer, with a pattern that shows a
	// byte out of place.
	var want bytes.Buffer
	for i := 0; want.Len() < 3<<20; i++ {
		want.WriteString(strings.Repeat(string(rune('a'+i%26)), i%97) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), want.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app.log", filepath.Join(dir, "current.log")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, root, file string
		host             bool
	}{
		{"below the grant", root, sub + "/app.log", true},
		{"a link inside the grant", root, sub + "/current.log", false},
		{"a root that is not a grant", dir, "app.log", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := openFile(tc.root, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, isHost := f.(*hostFile); isHost != tc.host {
				t.Errorf("opened by the host: %v, want %v", isHost, tc.host)
			}
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Errorf("read %d bytes (%v), want the file's %d", len(got), err, want.Len())
			}
		})
	}
	if _, err := openFile(root, sub+"/missing.log"); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v, want WASI's not-exist error", err)
	}
}
