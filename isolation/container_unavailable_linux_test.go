//go:build linux && cgo

package isolation

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/seccomp"
)

// TestNewContainer_failsClosed checks that a build without seccomp refuses
// container isolation instead of running workers without the filter.
func TestNewContainer_failsClosed(t *testing.T) {
	if seccomp.Enabled {
		t.Skip("this build has seccomp, so the refusal cannot happen here; tests/e2e TestNoSilentFallback builds agent-ctl without seccomp and checks it in every make test")
	}
	_, err := NewContainer(nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "-tags seccomp") {
		t.Errorf("NewContainer without seccomp: %v, want ErrUnavailable naming the build tag", err)
	}
}
