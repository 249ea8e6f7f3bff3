package supervisor

import (
	"errors"
	"os"
)

// dupFile is never called on Windows: grants there carry no descriptor
// (policies.Dir.File is nil).
func dupFile(f *os.File) (*os.File, error) {
	return nil, errors.New("duplicating a directory descriptor is not supported on Windows")
}
