package statefile

import (
	"errors"
	"os"
)

// ErrNotRegular is the error (through errors.Is) of Open, ReadFile and
// CopyNew for a path that names anything but a regular file: a named pipe, a socket,
// a device, a directory (or, where links are not followed, a link).
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError names the file refused and what it is instead
// ("a named pipe"); it unwraps to ErrNotRegular.
type NotRegularError struct {
	Path string
	Kind string
}

func (e *NotRegularError) Error() string { return e.Path + " is " + e.Kind + ", not a regular file" }

// Unwrap returns ErrNotRegular.
func (e *NotRegularError) Unwrap() error { return ErrNotRegular }

// kinds name the file types other than a regular file's, the device bit
// after the character device's, which has both.
var kinds = []struct {
	bit  os.FileMode
	kind string
}{{os.ModeNamedPipe, "a named pipe"}, {os.ModeSocket, "a socket"}, {os.ModeCharDevice, "a character device"},
	{os.ModeDevice, "a block device"}, {os.ModeDir, "a directory"}, {os.ModeSymlink, "a symbolic link"}}

// notRegular returns the error for path, whose type bits are in m, or nil
// if m is a regular file's.
func notRegular(path string, m os.FileMode) error {
	if m.Type() == 0 {
		return nil
	}
	for _, k := range kinds {
		if m&k.bit != 0 {
			return &NotRegularError{Path: path, Kind: k.kind}
		}
	}
	return &NotRegularError{Path: path, Kind: "an irregular file"}
}

// Open opens the regular file at path for reading, following symbolic
// links. Whatever path names is taken for hostile (a module directory, an
// archive, a hand-edited state file): a named pipe must not block until
// some writer comes, a terminal must not become the controlling terminal,
// a device must not be read. So it opens without blocking, checks the
// descriptor it opened (not the name again, which may have changed), and
// refuses anything but a regular file with a *NotRegularError. Reads of
// the file it returns block as usual.
func Open(path string) (*os.File, error) { return open(path, true) }
