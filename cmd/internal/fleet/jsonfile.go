package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// maxStateFile bounds the fleet's JSON state files (the kill list, the
// token registry, the deploy record): hundreds of times what a large
// fleet writes, and no more memory than that for a damaged file.
const maxStateFile = 16 << 20

// maxCredsFile bounds the small files the fleet reads whole: credentials
// (a JWT, a seed and the fleet key), the identity, the controller's URL.
const maxCredsFile = 64 << 10

// readJSONFile reads the JSON state file path into v. A missing file
// leaves v as it is: nothing was written yet, which is empty state (no
// kills, no tokens, no deploys). what names the file in errors ("the kill
// list").
func readJSONFile(path, what string, v any) error {
	b, err := statefile.ReadFile(path, maxStateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	return nil
}

// writeJSONFile writes v to the state file path as indented JSON, whole
// or not at all and readable by its owner only (statefile.WriteFile):
// the fleet's state files hold secrets or decide what runs.
func writeJSONFile(path, what string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := statefile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	return nil
}
