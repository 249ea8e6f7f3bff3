package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONFile: a state file written is read back whole and kept from
// other users; a missing one is empty state; a damaged one is an error
// that names the file.
func TestJSONFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "killed.json")
	want := &KillList{Killed: []Killed{{Digest: "sha256:" + strings.Repeat("ab", 32), Reason: "bad build"}}}
	if err := writeJSONFile(path, "the kill list", want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the written file: %v, %v, want mode 0600", fi, err)
	}
	os.WriteFile(filepath.Join(dir, "damaged.json"), []byte(`{"killed": [`), 0o600)
	for _, tc := range []struct {
		name, file string
		killed     int
		err        string
	}{
		{"written", "killed.json", 1, ""},
		{"missing", "none.json", 0, ""},
		{"damaged", "damaged.json", 0, "reading the kill list " + filepath.Join(dir, "damaged.json") + ": unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := &KillList{}
			err := readJSONFile(filepath.Join(dir, tc.file), "the kill list", got)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("read: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got.Killed) != tc.killed {
				t.Fatalf("read: %+v, %v, want %d kills", got, err, tc.killed)
			}
			if tc.killed > 0 && got.Killed[0] != want.Killed[0] {
				t.Errorf("read back %+v, want %+v", got.Killed[0], want.Killed[0])
			}
		})
	}
}
