//go:build (!linux || !cgo) && !windows

package isolation

import (
	"fmt"
	"runtime"
)

// NewContainer returns the spawner for container isolation. This build has
// none: it needs Linux and cgo (libcontainer's namespace setup runs as C
// before the Go runtime starts).
func NewContainer(*ContainerOptions) (Spawner, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w: container isolation needs Linux, this is %s", ErrUnavailable, runtime.GOOS)
	}
	return nil, fmt.Errorf("%w: container isolation needs a build with cgo (CGO_ENABLED=1)", ErrUnavailable)
}

func initContainer() {}

func checkContainer(*ContainerOptions) error {
	_, err := NewContainer(nil)
	return err
}
