package statefile

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// ErrTooLarge is the error (through errors.Is) of ReadFile for a file
// larger than its limit.
var ErrTooLarge = errors.New("file too large")

// tooLarge names the file and its limit, and is ErrTooLarge.
type tooLarge struct {
	name  string
	limit int64
}

func (e *tooLarge) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes", e.name, e.limit)
}

func (e *tooLarge) Is(target error) bool { return target == ErrTooLarge }

// ReadFile reads the file at path, of at most limit bytes. The state it
// reads (a manifest, a policy, a key) is written by hand or by another
// process, and may be anything: it never reads more than limit+1 bytes,
// whatever the file's size says, so a file that grows while it is read
// costs no more memory; and it reads only a regular file, opened as Open
// does (a named pipe does not block it, a device is not read).
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &tooLarge{filepath.Base(path), limit}
	}
	return b, nil
}
