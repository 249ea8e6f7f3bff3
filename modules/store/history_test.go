package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// distinctDir is moduleDir with a module of its own: the hello fixture
// with a custom section naming version, so that every version has its own
// digest.
func distinctDir(t *testing.T, version string) string {
	t.Helper()
	dir := moduleDir(t, version)
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	// A custom section (id 0): its size, the name's size, the name, the
	// payload. Runtimes ignore it; the digest changes.
	payload := "v" + version
	sec := append([]byte{byte(len(payload))}, payload...)
	wasm = append(wasm, 0, byte(len(sec)))
	wasm = append(wasm, sec...)
	if err := os.WriteFile(filepath.Join(dir, "m.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// age makes every version of the store older than the retire age, so
// collection is not held back by it.
func age(t *testing.T, s *store.Store) {
	t.Helper()
	past := time.Now().Add(-2 * time.Minute)
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".versions"))
	for _, e := range entries {
		os.Chtimes(filepath.Join(s.Dir(), ".versions", e.Name()), past, past)
	}
}

func versions(h []store.Version) []string {
	var out []string
	for _, v := range h {
		mark := ""
		if v.Current {
			mark = "*"
		}
		out = append(out, v.Version+mark)
	}
	return out
}

func TestHistory_keep(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep int
		want []string
	}{
		{"default", 0, []string{"1.6.0*", "1.5.0", "1.4.0", "1.3.0", "1.2.0"}},
		{"keep 2", 2, []string{"1.6.0*", "1.5.0"}},
		// 1.5.0 stopped being current a moment ago: it stays for the
		// calls that resolved it before the swap, and goes at the next
		// collection after the retire age.
		{"keep 1", 1, []string{"1.6.0*", "1.5.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0"} {
				age(t, s)
				if _, _, err := s.InstallWith(distinctDir(t, v), &store.InstallOptions{Keep: tc.keep, Signer: "key-" + v}); err != nil {
					t.Fatal(err)
				}
			}
			h, err := s.History("greet")
			if err != nil {
				t.Fatal(err)
			}
			if got := versions(h); !slices.Equal(got, tc.want) {
				t.Errorf("history %q, want %q", got, tc.want)
			}
			if h[0].Signer != "key-1.6.0" || h[0].Installed.IsZero() || len(h[0].Digest) != 64 || h[0].Err != nil {
				t.Errorf("newest version: %+v", h[0])
			}
		})
	}
}

func TestHistory_notInstalled(t *testing.T) {
	s := openStore(t)
	if _, err := s.History("greet"); !errors.Is(err, store.ErrNotInstalled) {
		t.Errorf("never installed: %v", err)
	}
	if _, err := s.Install(distinctDir(t, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("greet"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History("greet"); !errors.Is(err, store.ErrNotInstalled) {
		t.Errorf("removed: %v", err)
	}
}

func TestRollback(t *testing.T) {
	s := openStore(t)
	digests := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		tl, err := s.Install(distinctDir(t, v))
		if err != nil {
			t.Fatal(err)
		}
		digests[v] = tl.Digest
	}
	for _, tc := range []struct {
		to, want, was string
		wantErr       string
	}{
		{"", "1.1.0", "2.0.0", ""},
		{"", "1.0.0", "1.1.0", ""},
		{"", "", "", "no version installed before the current one"},
		{"2.0.0", "2.0.0", "1.0.0", ""},
		{"sha256:" + digests["1.1.0"][:12], "1.1.0", "2.0.0", ""},
		{"sha256:" + digests["1.0.0"], "1.0.0", "1.1.0", ""},
		{"3.0.0", "", "", "3.0.0 is not among the versions kept"},
		{"sha256:abc", "", "", "at least 12 hex digits"},
		{"sha256:" + strings.Repeat("0", 12), "", "", "not among the versions kept"},
	} {
		now, was, err := s.Rollback("greet", tc.to)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("rollback --to %q: %v, want an error containing %q", tc.to, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("rollback --to %q: %v", tc.to, err)
		}
		if now.Manifest().Version != tc.want || was.Manifest().Version != tc.was || now.Digest != digests[tc.want] {
			t.Errorf("rollback --to %q: now %s, was %s; want %s, was %s", tc.to, now.Manifest().Version, was.Manifest().Version, tc.want, tc.was)
		}
		if cur, err := s.Get("greet"); err != nil || cur.Dir != now.Dir {
			t.Errorf("rollback --to %q: current is %v (%v)", tc.to, cur, err)
		}
	}
	if _, _, err := s.Rollback("other", ""); !errors.Is(err, store.ErrNotInstalled) {
		t.Errorf("rollback of a tool not installed: %v", err)
	}
}

// TestRollback_tampered: a kept version whose module changed on disk is
// refused as a rollback target, and the current version stays.
func TestRollback_tampered(t *testing.T) {
	s := openStore(t)
	old, err := s.Install(distinctDir(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Install(distinctDir(t, "1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(old.Module)
	if err := os.WriteFile(old.Module, append(b, 0, 1, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rollback("greet", "1.0.0"); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "changed on disk") {
		t.Errorf("rollback to a tampered version: %v", err)
	}
	if now, err := s.Get("greet"); err != nil || now.Dir != cur.Dir {
		t.Errorf("after a refused rollback the current version is %v (%v), want %s", now, err, cur.Dir)
	}
}

// TestRollback_concurrentReaders: while a tool is rolled back and forth,
// every reader loads one of the two versions, whole, never an error. With
// a swap that removed the link before renaming the new one in (not one
// rename), readers saw the tool missing after 1 to 51 rollbacks (15 runs,
// with and without -race); 150 are run here.
func TestRollback_concurrentReaders(t *testing.T) {
	s := openStore(t)
	want := map[string]string{}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		tl, err := s.Install(distinctDir(t, v))
		if err != nil {
			t.Fatal(err)
		}
		want[tl.Digest] = v
	}
	readWhileSwapping(t, s, 2, 150, func(tool *store.Tool, err error) error {
		if err == nil && want[tool.Digest] != tool.Manifest().Version {
			err = fmt.Errorf("loaded version %s with the module of %q", tool.Manifest().Version, want[tool.Digest])
		}
		return err
	}, func(i int) error {
		_, _, err := s.Rollback("greet", []string{"1.0.0", "2.0.0"}[i%2])
		return err
	})
}

// TestCollect_readsOnlyWhatItNeeds checks that an install or a remove
// reads the records of the tool it touches, not every installed
// version's: collect ran at each of them over the whole store, so
// installing n tools read n² records (issue 18: 1,000 tools took over a
// minute). Old versions are still collected past the keep (TestHistory_keep).
func TestCollect_readsOnlyWhatItNeeds(t *testing.T) {
	s := openStore(t)
	const tools = 40
	for i := range tools {
		if _, err := s.Install(fixtures.ToolDir(t, fmt.Sprintf("tool-%02d", i), "hello.wasm", `"inputSchema": {"type": "object"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// At most: the new version's record as Install loads it, the replaced
	// one's, and the current one's in collect; none of the other tools'.
	const most = 4
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"install a new tool", func() error {
			_, err := s.Install(fixtures.ToolDir(t, "another", "hello.wasm", `"inputSchema": {"type": "object"}`))
			return err
		}},
		{"replace a tool", func() error {
			_, err := s.Install(fixtures.ToolDir(t, "tool-07", "hello.wasm", `"inputSchema": {"type": "object"}`))
			return err
		}},
		{"remove a tool", func() error { return s.Remove("tool-08") }},
	} {
		before := store.RecordReads()
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := store.RecordReads() - before; n > most {
			t.Errorf("%s with %d tools installed read %d version records, want at most %d", tc.name, tools, n, most)
		}
	}
}
