package statefile

import (
	"fmt"
	"os"
)

// open opens path read-only and refuses all but a regular file, checked
// through the handle opened. Windows has no FIFO that an open waits on,
// nor a controlling terminal; a named pipe or a console is refused by the
// same check. Without follow, the name is checked first (Lstat does not
// follow reparse points), and the handle must be the same file.
func open(path string, follow bool) (*os.File, error) {
	var lfi os.FileInfo
	if !follow {
		var err error
		if lfi, err = os.Lstat(path); err != nil {
			return nil, err
		}
		if err := notRegular(path, lfi.Mode()); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = notRegular(path, fi.Mode())
	}
	if err == nil && lfi != nil && !os.SameFile(lfi, fi) {
		err = fmt.Errorf("opening %s: it changed while it was opened", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
