package worker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// TestReadEntry: a worker that sees the cache entry by name skips the hash
// only when the file it opened has the identity the supervisor verified;
// any other file is checked. The entry here has a wrong checksum, so a
// load without a hash shows that the hash was skipped.
func TestReadEntry(t *testing.T) {
	payload := bytes.Repeat([]byte("compiled code "), 1000)
	sum := sha256.Sum256(payload)
	sound := append(append(bytes.Clone(payload), sum[:]...), "agent-ctl.cwasm1"...)
	bad := bytes.Clone(sound)
	bad[5] ^= 0xff
	dir := t.TempDir()
	write := func(name string, b []byte) (string, string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, cache.Identity(fi)
	}
	soundPath, soundID := write("sound.cwasm", sound)
	badPath, badID := write("bad.cwasm", bad)
	if badID == "" {
		t.Fatal("no file identity on this platform")
	}
	tests := []struct {
		name, path, identity string
		want                 []byte
		wantErr              error
	}{
		{"sound, not verified", soundPath, "", payload, nil},
		{"sound, verified", soundPath, soundID, payload, nil},
		{"bad, not verified", badPath, "", nil, cache.ErrCorrupt},
		{"bad, another file's identity", badPath, soundID, nil, cache.ErrCorrupt},
		{"bad, its own identity: not hashed", badPath, badID, bad[:len(payload)], nil},
		{"missing", filepath.Join(dir, "none"), soundID, nil, os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readEntry(tc.path, tc.identity)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}
