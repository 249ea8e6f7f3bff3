//go:build unix

package mcp_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// settle backdates the store's directory and the policy file, as if the
// last change were long past: Sync trusts only stamps older than the
// file system's timestamp granularity.
func settle(t *testing.T, e *env) {
	t.Helper()
	past := time.Now().Add(-time.Minute)
	for _, p := range []string{e.cat.Store().Dir(), catalog.PolicyPath(e.home)} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSync_idle checks that a Sync with nothing changed since the last
// one loads no tool (Watch runs it every poll: with 1,000 tools it took
// 17 ms each time), and that it still sees each kind of change.
func TestSync_idle(t *testing.T) {
	e := setup(t)
	names := func() map[string]bool {
		res, err := connect(t, e, nil).ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, tool := range res.Tools {
			out[tool.Name] = true
		}
		return out
	}
	settle(t, e)
	e.srv.Sync() // a full one, with the stamps settled
	for _, tc := range []struct {
		name    string
		change  func()
		changed bool
		check   func() bool
	}{
		{"nothing", func() {}, false, nil},
		{"install", func() {
			if _, err := e.cat.Store().Install(fixtures.ToolDir(t, "added", "hello.wasm", `"inputSchema": {"type": "object"}`)); err != nil {
				t.Fatal(err)
			}
		}, true, func() bool { return names()["added"] }},
		{"nothing after an install", func() {}, false, nil},
		{"grant", func() {
			g, err := policies.LoadGrants(catalog.PolicyPath(e.home))
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Tool("hello").GrantDir(policies.Dir{Host: t.TempDir(), Guest: "/w"}); err != nil {
				t.Fatal(err)
			}
			if err := g.Save(catalog.PolicyPath(e.home)); err != nil {
				t.Fatal(err)
			}
		}, true, nil},
		{"remove", func() {
			if err := e.cat.Store().Remove("added"); err != nil {
				t.Fatal(err)
			}
		}, true, func() bool { return !names()["added"] }},
		{"nothing after a remove", func() {}, false, nil},
	} {
		tc.change()
		if tc.changed {
			if !e.srv.Sync() {
				t.Fatalf("%s: Sync saw no change", tc.name)
			}
			if tc.check != nil && !tc.check() {
				t.Fatalf("%s: tools/list does not show it", tc.name)
			}
		}
		// With the stamps settled, the next Sync has nothing to look at.
		settle(t, e)
		e.srv.Sync()
		if e.srv.Sync() {
			t.Fatalf("after %s: a Sync with nothing changed reported a change", tc.name)
		}
		if n := e.srv.SyncExamined(); n != 0 {
			t.Errorf("after %s: a Sync with nothing changed loaded %d tools, want 0", tc.name, n)
		}
	}
}

// TestSync_racyStamps checks that a change made in the same tick of the
// file system's clock as the stamp the last Sync read is still seen: a
// stamp that recent is not trusted. Each round replaces a tool right
// after a Sync and then sets the store directory's mtime back to what
// that Sync saw, as a change within the same tick leaves it.
func TestSync_racyStamps(t *testing.T) {
	e := setup(t)
	for i := range 5 {
		e.srv.Sync()
		fi, err := os.Stat(e.cat.Store().Dir())
		if err != nil {
			t.Fatal(err)
		}
		dir := fixtures.ToolDir(t, "hello", "hello.wasm", fmt.Sprintf(`"inputSchema": {"type": "object"}, "title": "round %d"`, i))
		if _, err := e.cat.Store().Install(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(e.cat.Store().Dir(), fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if !e.srv.Sync() {
			t.Fatalf("round %d: a replacement in the same tick as the last Sync's stamp was not seen", i)
		}
	}
}
