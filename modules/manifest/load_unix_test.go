//go:build unix

package manifest_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestLoad_notRegular: a manifest.json that is a named pipe, a socket, a
// device, a directory or a link to a pipe is refused at once, naming the
// file and what it is. Before, the pipe and the link blocked Load in
// open(2) until a writer came (these subtests hit the deadline), and
// /dev/null read as an empty manifest.
func TestLoad_notRegular(t *testing.T) {
	for i, s := range testutil.Specials(t, t.TempDir()) {
		t.Run(s.Name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, manifest.FileName)
			testutil.Place(t, testutil.Specials(t, t.TempDir())[i], path)
			err := testutil.Within(t, 60*time.Second, "loading "+path, func() error { _, _, err := manifest.Load(dir); return err })
			want := path + " is " + s.Kind + ", not a regular file"
			if !errors.Is(err, statefile.ErrNotRegular) || err.Error() != want {
				t.Fatalf("Load: %v, want %q", err, want)
			}
		})
	}
}
