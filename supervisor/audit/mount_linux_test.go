package audit

import (
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// roMount makes dir read-only until the test ends (testutil.ReadOnlyBind).
func roMount(t *testing.T, dir string) { testutil.ReadOnlyBind(t, dir) }
