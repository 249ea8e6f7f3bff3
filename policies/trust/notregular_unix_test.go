//go:build unix

package trust

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestNotRegular: a trust policy file, a module to sign and a signed
// module to verify that are not regular files are refused at once, each
// naming the file and what it is. Before, a named pipe (or a link to one)
// blocked Load, Sign and Verify in open(2) until a writer came: those
// subtests hit the deadline.
func TestNotRegular(t *testing.T) {
	sk, k := newKey(t, "alice")
	calls := []struct {
		name  string
		setup func(t *testing.T, s testutil.Special) (dir, path string)
		call  func(dir string) error
	}{
		{"Load", func(t *testing.T, s testutil.Special) (string, string) {
			home := t.TempDir()
			testutil.Place(t, s, Path(home))
			return home, Path(home)
		}, func(home string) error { _, err := Load(home); return err }},
		{"Sign", func(t *testing.T, s testutil.Special) (string, string) {
			dir := moduleDir(t)
			testutil.Place(t, s, filepath.Join(dir, "hello.wasm"))
			return dir, filepath.Join(dir, "hello.wasm")
		}, func(dir string) error { return Sign(dir, sk) }},
		{"Verify", func(t *testing.T, s testutil.Special) (string, string) {
			dir := signed(t, sk)
			testutil.Place(t, s, filepath.Join(dir, "hello.wasm"))
			return dir, filepath.Join(dir, "hello.wasm")
		}, func(dir string) error { _, err := Verify(dir, []Key{k}); return err }},
	}
	for i, s := range testutil.Specials(t, t.TempDir()) {
		for _, c := range calls {
			t.Run(c.name+"/"+s.Name, func(t *testing.T) {
				dir, path := c.setup(t, testutil.Specials(t, t.TempDir())[i])
				err := testutil.Within(t, 60*time.Second, c.name+" "+path, func() error { return c.call(dir) })
				want := path + " is " + s.Kind + ", not a regular file"
				if !errors.Is(err, statefile.ErrNotRegular) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: %v, want an error saying %q", c.name, err, want)
				}
			})
		}
	}
}
