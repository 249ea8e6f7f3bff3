package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// readJSONFile reads the JSON state file path into v. A missing file
// leaves v as it is: nothing was written yet, which is empty state (no
// kills, no tokens, no deploys). what names the file in errors ("the kill
// list").
func readJSONFile(path, what string, v any) error {
	b, err := os.ReadFile(path)
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
