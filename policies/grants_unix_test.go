//go:build unix

package policies_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestLoadGrants_notRegular: a policy file that is a named pipe, a
// socket, a device, a directory or a link to a pipe is refused at once,
// naming it and what it is. Before, the pipe and the link blocked every
// call of a tool, grant and revoke in open(2) until a writer came (these
// subtests hit the deadline), and /dev/null read as an empty policy.
func TestLoadGrants_notRegular(t *testing.T) {
	for _, s := range testutil.Specials(t, t.TempDir()) {
		t.Run(s.Name, func(t *testing.T) {
			err := testutil.Within(t, 60*time.Second, "loading "+s.Path, func() error { _, err := policies.LoadGrants(s.Path); return err })
			want := s.Path + " is " + s.Kind + ", not a regular file"
			if !errors.Is(err, statefile.ErrNotRegular) || !strings.Contains(err.Error(), want) {
				t.Fatalf("LoadGrants: %v, want an error saying %q", err, want)
			}
		})
	}
}
