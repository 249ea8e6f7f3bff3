//go:build !linux

package policies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// openHostDir resolves path by name: without openat2 and O_PATH there is no
// descriptor to hold, and links are followed (docs/isolation.md says so for
// Windows). It returns the real path and no descriptor.
func openHostDir(path string) (string, *os.File, error) {
	// Symlinks first, then "..": the kernel resolves a/link/.. through the
	// link, and so must we, or the grant names another directory.
	linked, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("%w: directory %s does not exist on the host", ErrInvalid, path)
		}
		return "", nil, fmt.Errorf("%w: directory %s: %w", ErrInvalid, path, err)
	}
	real, err := filepath.Abs(linked)
	if err != nil {
		return "", nil, fmt.Errorf("%w: directory %s: %w", ErrInvalid, path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("%w: directory %s: %w", ErrInvalid, path, err)
	}
	if !fi.IsDir() {
		return "", nil, fmt.Errorf("%w: %s is not a directory", ErrInvalid, path)
	}
	return real, nil, nil
}

// checkHostDir compares names: see openHostDir.
func checkHostDir(_ *os.File, real string, protected []string) (string, error) {
	return "", CheckHostPath(real, protected...)
}
