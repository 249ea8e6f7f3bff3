package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrHomeShared is the error (through errors.Is) of EnsureHome for a state
// directory that someone else may write in.
var ErrHomeShared = errors.New("state directory is writable by others")

// EnsureHome makes dir ready to be a state directory. A missing one is
// created, private to its owner (0700). An existing one is used as it is,
// provided no one else may write in it: it holds compiled code that
// workers map executable, the grants and the audit log, and whoever may
// write in a directory may rename what is in it. EnsureHome never changes
// the mode of a directory it did not create: `--home /tmp` must not make
// the system's /tmp private behind everyone's back, nor `--home ~` the
// user's home (an earlier version did both, with a chmod). It refuses such
// a directory instead, saying how to proceed. agent-ctl's own directories
// and files inside are private whatever the home's read bits.
func EnsureHome(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
		// The umask may have taken bits the owner needs; the directory is
		// new and agent-ctl's own.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("opening state directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("state directory %s is not a directory", dir)
	}
	if who := otherWriters(fi); who != "" {
		return fmt.Errorf("%w: %s (%s); name a new directory, which agent-ctl creates private, or make this one yours with chmod 700", ErrHomeShared, dir, who)
	}
	return nil
}
