//go:build !unix

package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
)

// openCompiled opens the compile output in callDir if it is a regular file
// and not a link. Windows has no openat: the file is checked by name first
// (Lstat, which does not follow reparse points) and then through the handle
// opened; the two must be the same file. A Windows worker cannot create
// symbolic links without the privilege to, nor FIFOs or devices in a
// directory. The link count is not checked here (os.FileInfo has none): a
// hard link is read once like any file, and its bytes checked all the same.
func openCompiled(callDir string) (*os.File, int64, error) {
	p := filepath.Join(callDir, compiledName)
	lfi, err := os.Lstat(p)
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", compiledName, err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("refusing %s: %w: its mode is %v", compiledName, errNotRegular, lfi.Mode())
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", compiledName, err)
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(lfi, fi) || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("refusing %s: %w: it changed while it was opened", compiledName, errNotRegular)
	}
	return f, fi.Size(), nil
}
