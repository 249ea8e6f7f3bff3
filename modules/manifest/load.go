package manifest

import (
	"fmt"
	"path/filepath"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// FileName is a manifest's name in a module directory.
const FileName = "manifest.json"

// Load reads the manifest of the module directory dir (its FileName) and
// parses it. The file comes from whoever wrote the module: no more than
// MaxSize bytes are read, whatever its size says. It also returns the
// bytes as read, for callers that copy, sign or hash the manifest that
// was parsed rather than read the file again. A parse error names the
// file (a read error does already).
func Load(dir string) (*Manifest, []byte, error) {
	path := filepath.Join(dir, FileName)
	raw, err := statefile.ReadFile(path, MaxSize)
	if err != nil {
		return nil, nil, err
	}
	m, err := Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, raw, nil
}
