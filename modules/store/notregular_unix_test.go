//go:build unix

package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestInstall_notRegular: a module directory whose manifest.json is not a
// regular file, whose module is a named pipe, a module archive that is a
// named pipe, and an installed tool whose manifest became a named pipe are
// refused at once with the file and what it is. Before, the manifest, the
// link to a pipe, the archive and the installed manifest blocked install
// (and Get) in open(2) until a writer came: those subtests hit the
// deadline. (The module as a pipe was already refused by an Lstat.)
func TestInstall_notRegular(t *testing.T) {
	s := openStore(t)
	if _, err := s.Install(moduleDir(t, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	type install struct {
		name  string
		setup func(t *testing.T, dir string) (src string)
		want  string
	}
	var tests []install
	for i, sp := range testutil.Specials(t, t.TempDir()) {
		tests = append(tests, install{"manifest.json " + sp.Name, func(t *testing.T, dir string) string {
			testutil.Place(t, testutil.Specials(t, t.TempDir())[i], filepath.Join(dir, "manifest.json"))
			return dir
		}, "manifest.json is " + sp.Kind + ", not a regular file"})
	}
	tests = append(tests,
		install{"module fifo", func(t *testing.T, dir string) string {
			testutil.Place(t, testutil.Specials(t, t.TempDir())[0], filepath.Join(dir, "m.wasm"))
			return dir
		}, "module m.wasm is not a regular file"},
		install{"archive fifo", func(t *testing.T, dir string) string {
			src := filepath.Join(dir, "greet.tar.gz")
			testutil.Place(t, testutil.Specials(t, t.TempDir())[0], src)
			return src
		}, "greet.tar.gz is a named pipe, not a regular file"},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.setup(t, moduleDir(t, "9.9.9"))
			err := testutil.Within(t, 60*time.Second, "installing "+src, func() error { _, err := s.Install(src); return err })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			if got, err := s.Get("greet"); err != nil || got.Manifest().Version != "1.0.0" {
				t.Fatalf("installed version disturbed: %v %v", got, err)
			}
		})
	}
	t.Run("installed manifest fifo", func(t *testing.T) {
		got, err := s.Get("greet")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(got.Dir, "manifest.json")
		testutil.Place(t, testutil.Specials(t, t.TempDir())[0], path)
		err = testutil.Within(t, 60*time.Second, "loading greet", func() error { _, err := s.Get("greet"); return err })
		if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), path+" is a named pipe, not a regular file") {
			t.Fatalf("got %v, want ErrDamaged naming %s as a named pipe", err, path)
		}
	})
}
