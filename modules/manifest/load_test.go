package manifest_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// TestLoad reads a module directory's manifest: the bytes as they are on
// disk and the manifest they parse to; a missing, oversized or invalid
// manifest is refused with its own error, the invalid one naming the file.
func TestLoad(t *testing.T) {
	valid := readValid(t)
	tests := []struct {
		name    string
		content []byte // nil: no manifest file
		target  error
		want    string
	}{
		{"valid", valid, nil, ""},
		{"missing", nil, os.ErrNotExist, "manifest.json"},
		{"larger than MaxSize", append(bytes.Clone(valid), bytes.Repeat([]byte(" "), manifest.MaxSize)...),
			statefile.ErrTooLarge, "manifest.json is larger than 1048576 bytes"},
		{"invalid", []byte(`{"name": "x"}`), manifest.ErrInvalid, "manifest.json: invalid manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != nil {
				if err := os.WriteFile(filepath.Join(dir, manifest.FileName), tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m, raw, err := manifest.Load(dir)
			if tc.target != nil {
				if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load: %v, want an error wrapping %v saying %q", err, tc.target, tc.want)
				}
				if m != nil || raw != nil {
					t.Errorf("Load returned %v and %d bytes beside its error", m, len(raw))
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !bytes.Equal(raw, tc.content) {
				t.Errorf("Load's bytes differ from the file's")
			}
			if m.Name != "logs" || m.ModuleFile() != "module.wasm" {
				t.Errorf("Load: name %q module %q, want logs and module.wasm", m.Name, m.ModuleFile())
			}
		})
	}
}
