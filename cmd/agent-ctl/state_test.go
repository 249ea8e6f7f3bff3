package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// envModule makes a module directory for a tool named name whose manifest
// asks for the environment variables keys (install --yes grants them).
func envModule(t *testing.T, name string, keys ...string) string {
	t.Helper()
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k)
	}
	return toolDir(t, `{"name":"`+name+`","version":"1.0.0","description":"a tool of the state tests",
	"inputSchema":{"type":"object"},"capabilities":{"env":[`+strings.Join(quoted, ",")+`]}}`, fixture(t, "hello.wasm"))
}

// change is one agent-ctl process of a race and what must hold after it,
// if it exited 0.
type change struct {
	args  []string
	check func(g *policies.Grants, tokens []mcp.Token, st *store.Store) error
	code  int
	out   string
}

func hasEnv(g *policies.Grants, tool, key string) bool {
	tg := g.Tools[tool]
	return tg != nil && slices.ContainsFunc(tg.Env, func(e policies.EnvGrant) bool { return e.Key == key })
}

func hasToken(list []mcp.Token, name string) bool {
	return slices.ContainsFunc(list, func(tok mcp.Token) bool { return tok.Name == name })
}

// TestState_concurrentChanges races grant, revoke, install --yes, remove
// and token create/revoke, each a separate agent-ctl process, on one
// home, and checks that every change that exited 0 is in the state
// afterwards: every grant present, every revoke holding, every removed
// tool without grants, every token created present and every one revoked
// gone. Each used to read the state, change it and rename a new file in
// without a lock, and the last rename undid the others: 9 to 15 of a
// round's 20 changes were lost, in every round; a token in 6 rounds of 10,
// hence the 6 rounds here.
func TestState_concurrentChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hundreds of agent-ctl processes")
	}
	const rounds = 6
	home := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	setup := func(args ...string) {
		t.Helper()
		if code, out, errs := runIn(t, home, "", args...); code != 0 {
			t.Fatalf("agent-ctl %q: exit %d\n%s%s", args, code, out, errs)
		}
	}
	setup("install", "--isolation", "process", envModule(t, "racer"))
	for r := range rounds {
		var changes []*change
		// Grants and revokes of one tool's variables.
		for i := range 8 {
			key := fmt.Sprintf("G%d_%d", r, i)
			changes = append(changes, &change{args: []string{"grant", "racer", "--env", key + "=1"},
				check: func(g *policies.Grants, _ []mcp.Token, _ *store.Store) error {
					if !hasEnv(g, "racer", key) {
						return fmt.Errorf("grant of %s lost", key)
					}
					return nil
				}})
		}
		for i := range 4 {
			key := fmt.Sprintf("R%d_%d", r, i)
			setup("grant", "racer", "--env", key+"=1")
			changes = append(changes, &change{args: []string{"revoke", "racer", "--env", key},
				check: func(g *policies.Grants, _ []mcp.Token, _ *store.Store) error {
					if hasEnv(g, "racer", key) {
						return fmt.Errorf("revoke of %s undone: the grant is in force", key)
					}
					return nil
				}})
		}
		// Installs that grant what their manifests ask for, and removes
		// of tools that had grants.
		for i := range 2 {
			name, key := fmt.Sprintf("inst%dx%d", r, i), fmt.Sprintf("I%d_%d", r, i)
			changes = append(changes, &change{args: []string{"install", "--yes", "--isolation", "process", envModule(t, name, key)},
				check: func(g *policies.Grants, _ []mcp.Token, st *store.Store) error {
					if _, err := st.Get(name); err != nil {
						return fmt.Errorf("install --yes of %s: %w", name, err)
					}
					if !hasEnv(g, name, key) {
						return fmt.Errorf("install --yes of %s: grant of %s lost", name, key)
					}
					return nil
				}})
			gone := fmt.Sprintf("gone%dx%d", r, i)
			setup("install", "--isolation", "process", envModule(t, gone))
			setup("grant", gone, "--env", "KEPT=1")
			changes = append(changes, &change{args: []string{"remove", gone},
				check: func(g *policies.Grants, _ []mcp.Token, st *store.Store) error {
					if _, err := st.Get(gone); !errors.Is(err, store.ErrNotInstalled) {
						return fmt.Errorf("remove of %s: still installed (%v)", gone, err)
					}
					if g.Tools[gone] != nil {
						return fmt.Errorf("remove of %s: its grants came back", gone)
					}
					return nil
				}})
		}
		// Tokens.
		for i := range 3 {
			name := fmt.Sprintf("tok%dx%d", r, i)
			changes = append(changes, &change{args: []string{"token", "create", name},
				check: func(_ *policies.Grants, list []mcp.Token, _ *store.Store) error {
					if !hasToken(list, name) {
						return fmt.Errorf("token %s lost", name)
					}
					return nil
				}})
		}
		old := fmt.Sprintf("old%d", r)
		setup("token", "create", old)
		changes = append(changes, &change{args: []string{"token", "revoke", old},
			check: func(_ *policies.Grants, list []mcp.Token, _ *store.Store) error {
				if hasToken(list, old) {
					return fmt.Errorf("revoke of token %s undone", old)
				}
				return nil
			}})

		var wg sync.WaitGroup
		for _, c := range changes {
			cmd := exec.Command(self, c.args...)
			cmd.Env = append(os.Environ(), asCLI+"=1", "AGENTCTL_HOME="+home)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := cmd.Wait()
				c.code, c.out = cmd.ProcessState.ExitCode(), out.String()
				if err != nil && c.code == 0 {
					c.code = -1
				}
			}()
		}
		wg.Wait()

		g, err := policies.LoadGrants(catalog.PolicyPath(home))
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(filepath.Join(home, "modules"))
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := mcp.OpenTokens(mcp.TokensPath(home)).List()
		if err != nil {
			t.Fatal(err)
		}
		lost := 0
		for _, c := range changes {
			if c.code != 0 {
				// Nothing here conflicts: every change must succeed.
				t.Errorf("round %d: agent-ctl %q: exit %d\n%s", r, c.args, c.code, c.out)
				continue
			}
			if err := c.check(g, tokens, st); err != nil {
				t.Errorf("round %d: %v (agent-ctl %q exited 0)", r, err, c.args)
				lost++
			}
		}
		if lost > 0 {
			t.Fatalf("round %d: %d of %d changes lost", r, lost, len(changes))
		}
	}
}

// TestState_damaged damages one installed tool's files, or the policy
// file, and checks that each command says which file and what is wrong,
// never panics, that remove works on a damaged tool, and that commands
// and tools unrelated to the damage still work.
func TestState_damaged(t *testing.T) {
	versionDir := func(home, tool string) string {
		target, err := os.Readlink(filepath.Join(home, "modules", tool))
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(home, "modules", target)
	}
	write := func(path, content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(path string) {
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(home string)
		// The damaged tool's call, list and remove: exit code and a
		// stderr substring.
		callCode   int
		callErr    string
		listCode   int
		removeCode int
		removeErr  string
	}{
		{"short digest", func(h string) { write(filepath.Join(versionDir(h, "hello"), "digest"), "abc\n") },
			126, `digest holds "abc", not a sha256 in hex`, 126, 0, ""},
		{"empty digest", func(h string) { write(filepath.Join(versionDir(h, "hello"), "digest"), "") },
			126, `digest holds "", not a sha256 in hex`, 126, 0, ""},
		{"missing digest", func(h string) { remove(filepath.Join(versionDir(h, "hello"), "digest")) },
			126, "digest: no such file", 126, 0, ""},
		{"bad manifest JSON", func(h string) { write(filepath.Join(versionDir(h, "hello"), "manifest.json"), "{") },
			126, "manifest.json", 126, 0, ""},
		{"manifest of another tool", func(h string) {
			write(filepath.Join(versionDir(h, "hello"), "manifest.json"), `{"name":"other","version":"1.0.0","description":"x","inputSchema":{"type":"object"}}`)
		}, 126, `names "other"`, 126, 0, ""},
		{"missing manifest", func(h string) { remove(filepath.Join(versionDir(h, "hello"), "manifest.json")) },
			126, "manifest.json: no such file", 126, 0, ""},
		{"missing module", func(h string) { remove(filepath.Join(versionDir(h, "hello"), "hello.wasm")) },
			126, "hello.wasm: no such file", 126, 0, ""},
		{"missing version directory", func(h string) { remove(versionDir(h, "hello")) },
			126, "no such file", 126, 0, ""},
		{"bad policy JSON", func(h string) { write(catalog.PolicyPath(h), `{"tools": {`) },
			125, "policy.json is not valid", 0, 125, "policy.json is not valid"},
		{"policy with unknown field", func(h string) { write(catalog.PolicyPath(h), `{"tols": {}}`) },
			125, `unknown field "tols"`, 0, 125, "move it aside"},
		{"policy with a relative grant", func(h string) {
			write(catalog.PolicyPath(h), `{"tools": {"hello": {"dirs": [{"host": "rel", "guest": "/d"}]}}}`)
		}, 125, "host path must be absolute", 0, 125, "policy.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			for _, dir := range []string{repoPath("modules/hello"), envModule(t, "other")} {
				if code, out, errs := runIn(t, home, "", "install", "--isolation", "process", dir); code != 0 {
					t.Fatalf("install %s: exit %d\n%s%s", dir, code, out, errs)
				}
			}
			tc.damage(home)
			noPanic := func(what, errs string) {
				t.Helper()
				if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine ") || strings.Contains(errs, "No help topic") {
					t.Errorf("%s: stderr %q", what, errs)
				}
			}

			code, out, errs := runIn(t, home, "", "hello", "--name", "x")
			noPanic("call", errs)
			expect(t, "call the damaged tool", code, out, errs, tc.callCode, "", tc.callErr)
			if tc.callCode == 126 && !strings.Contains(errs, "agent-ctl remove hello") {
				t.Errorf("call: the error does not say how to repair: %q", errs)
			}
			code, out, errs = runIn(t, home, "", "other")
			noPanic("other tool", errs)
			if tc.listCode == 0 {
				// The policy file is damaged: no tool can be called.
				expect(t, "call another tool", code, out, errs, 125, "", "policy.json")
			} else {
				expect(t, "call another tool", code, out, errs, 0, "hello, world", "")
			}
			code, out, errs = runIn(t, home, "", "list")
			noPanic("list", errs)
			expect(t, "list", code, out, errs, tc.listCode, "other", "")
			if strings.Contains(out, "no tools installed") {
				t.Errorf("list says no tools are installed:\n%s", out)
			}
			code, out, errs = runIn(t, home, "", "nosuchtool")
			noPanic("unknown name", errs)
			expect(t, "unknown name", code, out, errs, 127, "", "agent-ctl: no tool or command named nosuchtool")
			code, out, errs = runIn(t, home, "", "remove", "hello")
			noPanic("remove", errs)
			expect(t, "remove", code, out, errs, tc.removeCode, "", tc.removeErr)
			if tc.removeCode == 0 {
				code, out, errs = runIn(t, home, "", "list")
				expect(t, "list after remove", code, out, errs, 0, "other", "")
				code, out, errs = runIn(t, home, "", "hello")
				expect(t, "call after remove", code, out, errs, 127, "", "no tool or command named hello")
			}
		})
	}
}

// TestState_grantFollowsVersion: a grant is written only for the version
// of the tool the command loaded; one replaced or removed meanwhile gets
// nothing (install --yes must not grant a manifest's asks to another
// version, nor a grant outlive a remove).
func TestState_grantFollowsVersion(t *testing.T) {
	home := t.TempDir()
	mod := envModule(t, "tool", "ASKED")
	install := func() {
		t.Helper()
		if code, out, errs := runIn(t, home, "", "install", "--isolation", "process", mod); code != 0 {
			t.Fatalf("install: exit %d\n%s%s", code, out, errs)
		}
	}
	install()
	st, err := openState(home)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := st.store.Get("tool")
	if err != nil {
		t.Fatal(err)
	}
	grant := func(tg *policies.ToolGrants) error { return tg.GrantEnv("ASKED") }
	install() // another version
	if err := st.updateGrants(loaded, grant); err == nil || !strings.Contains(err.Error(), "replaced by another install") {
		t.Errorf("grant to a replaced version: %v", err)
	}
	current, err := st.store.Get("tool")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.store.Remove("tool"); err != nil {
		t.Fatal(err)
	}
	if err := st.updateGrants(current, grant); err == nil || !strings.Contains(err.Error(), "removed meanwhile") {
		t.Errorf("grant to a removed tool: %v", err)
	}
	g, err := st.grants()
	if err != nil {
		t.Fatal(err)
	}
	if g.Tools["tool"] != nil {
		t.Errorf("grants written: %+v", g.Tools["tool"])
	}
}

// TestSharedHome: --home naming a directory others may write in (here
// shaped like /tmp) is refused by run and by the commands that open the state,
// with what to do, and the directory keeps its mode: an earlier version
// chmodded it to 0700, which would have broken the system's /tmp.
func TestSharedHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--isolation", "process", fixtures.Path("hello.wasm")},
		{"install", repoPath("modules/hello")},
		{"list"},
	} {
		code, out, errs := runIn(t, home, "", args...)
		if code == 0 || !strings.Contains(errs, "state directory is writable by others") || !strings.Contains(errs, "chmod 700") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a refusal that says what to do", args, code, out, errs)
		}
		fi, err := os.Stat(home)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
			t.Fatalf("%v: the directory's mode is now %v", args, fi.Mode())
		}
	}
}
