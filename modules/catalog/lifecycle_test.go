package catalog_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// toolDir writes a module directory for the tool "greet" at version,
// asking for the variables env, its module the hello fixture with a custom
// section naming the version (a digest of its own).
func toolDir(t *testing.T, version string, env ...string) string {
	t.Helper()
	dir := t.TempDir()
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	payload := "v" + version
	sec := append([]byte{byte(len(payload))}, payload...)
	wasm = append(append(wasm, 0, byte(len(sec))), sec...)
	quoted := make([]string, len(env))
	for i, k := range env {
		quoted[i] = strconv.Quote(k)
	}
	m := fmt.Sprintf(`{"name":"greet","version":%q,"description":"greets","inputSchema":{"type":"object"},"capabilities":{"env":[%s]}}`, version, strings.Join(quoted, ","))
	os.WriteFile(filepath.Join(dir, "module.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644)
	return dir
}

// grantEnv grants greet the variable key as an operator would: pinned to
// the version installed now.
func grantEnv(t *testing.T, cat *catalog.Catalog, key string) {
	t.Helper()
	cur, err := cat.Store().Get("greet")
	if err != nil {
		t.Fatal(err)
	}
	if err := policies.UpdateGrants(catalog.PolicyPath(cat.Home()), func(g *policies.Grants) error {
		tg := g.Tool("greet")
		tg.Digest, tg.Signer = cur.Digest, cur.Signer
		return tg.GrantEnv(key)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestInstall_pinning: a tool's grants follow the module they were given
// for. Another module under the same name gets them only when signed by
// the same key and asking for nothing beyond them; otherwise its calls are
// refused until the grants are confirmed, and a rollback to the granted
// module gets them back.
func TestInstall_pinning(t *testing.T) {
	type version struct {
		version, signer string
		env             []string
	}
	for _, tc := range []struct {
		name       string
		first      version
		next       version
		wantHeld   bool
		wantCarry  bool
		wantReason string
	}{
		{"unsigned upgrade", version{"1.0.0", "", []string{"A"}}, version{"1.1.0", "", []string{"A"}}, true, false, "it is not signed"},
		{"unsigned downgrade asking for nothing", version{"1.0.0", "", []string{"A"}}, version{"0.9.0", "", nil}, true, false, "it is not signed"},
		{"same key, asks for nothing new", version{"1.0.0", "k1", []string{"A"}}, version{"1.1.0", "k1", []string{"A"}}, false, true, ""},
		{"same key, asks for less", version{"1.0.0", "k1", []string{"A"}}, version{"1.1.0", "k1", nil}, false, true, ""},
		{"same key, asks for more", version{"1.0.0", "k1", []string{"A"}}, version{"1.1.0", "k1", []string{"A", "B"}}, true, false, "it asks for more than was granted"},
		{"another key", version{"1.0.0", "k1", []string{"A"}}, version{"1.1.0", "k2", []string{"A"}}, true, false, "signed by k2"},
		{"signed, granted unsigned", version{"1.0.0", "", []string{"A"}}, version{"1.1.0", "k1", []string{"A"}}, true, false, "signed by k1"},
		{"the same module again", version{"1.0.0", "", []string{"A"}}, version{"1.0.0", "", []string{"A"}}, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			cat, err := catalog.Open(home)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cat.Install(toolDir(t, tc.first.version, tc.first.env...), &store.InstallOptions{Signer: tc.first.signer}); err != nil {
				t.Fatal(err)
			}
			grantEnv(t, cat, "A")
			t.Setenv("A", "granted")
			if p, err := cat.Call("greet", map[string]any{}); err != nil || len(p.Policy.Env) != 1 {
				t.Fatalf("call of the granted version: %+v, %v", p, err)
			}
			ch, err := cat.Install(toolDir(t, tc.next.version, tc.next.env...), &store.InstallOptions{Signer: tc.next.signer})
			if err != nil {
				t.Fatal(err)
			}
			if ch.Held != tc.wantHeld || ch.Carried != tc.wantCarry || ch.GrantsErr != nil || ch.Replaced == nil {
				t.Fatalf("install: held %v carried %v (%v), want held %v carried %v", ch.Held, ch.Carried, ch.GrantsErr, tc.wantHeld, tc.wantCarry)
			}
			p, err := cat.Call("greet", map[string]any{})
			if !tc.wantHeld {
				if err != nil || len(p.Policy.Env) != 1 || p.Digest != ch.Tool.Digest {
					t.Fatalf("call after a carry-over: %+v, %v", p, err)
				}
				return
			}
			if !errors.Is(err, catalog.ErrGrantsHeld) || !strings.Contains(err.Error(), tc.wantReason) || !strings.Contains(err.Error(), "agent-ctl grant greet --confirm") ||
				!strings.Contains(err.Error(), "given for "+tc.first.version) {
				t.Fatalf("call with held grants: %v", err)
			}
			// A rollback to the granted module gets the grants back.
			back, err := cat.Rollback("greet", "")
			if err != nil || back.Held || back.Tool.Manifest().Version != tc.first.version {
				t.Fatalf("rollback: %+v, %v", back, err)
			}
			if p, err := cat.Call("greet", map[string]any{}); err != nil || len(p.Policy.Env) != 1 {
				t.Fatalf("call after the rollback: %+v, %v", p, err)
			}
		})
	}
}

// TestInstall_unpinnedGrants: a policy file written before grants were
// pinned keeps working for the version installed, and an install of
// another module does not pass its grants on.
func TestInstall_unpinnedGrants(t *testing.T) {
	home := t.TempDir()
	cat, err := catalog.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Install(toolDir(t, "1.0.0", "A"), nil); err != nil {
		t.Fatal(err)
	}
	// As an older agent-ctl wrote it: no digest.
	if err := os.WriteFile(catalog.PolicyPath(home), []byte(`{"tools":{"greet":{"env":[{"key":"A","value":"x"}]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := cat.Call("greet", map[string]any{}); err != nil || len(p.Policy.Env) != 1 {
		t.Fatalf("call under an unpinned grant: %+v, %v", p, err)
	}
	ch, err := cat.Install(toolDir(t, "2.0.0", "A"), nil)
	if err != nil || !ch.Held {
		t.Fatalf("install over unpinned grants: %+v, %v", ch, err)
	}
	if _, err := cat.Call("greet", map[string]any{}); !errors.Is(err, catalog.ErrGrantsHeld) {
		t.Fatalf("call of the new version: %v", err)
	}
	g, err := policies.LoadGrants(catalog.PolicyPath(home))
	if err != nil {
		t.Fatal(err)
	}
	if first := ch.Replaced; g.Tools["greet"].Digest != first.Digest {
		t.Errorf("grants pinned to %q, want the version installed when they were written, %q", g.Tools["greet"].Digest, first.Digest)
	}
}
