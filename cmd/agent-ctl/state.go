package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// state is the installed tools and the operator's grants under a home.
// The grants are read where a command needs them, not here: a damaged
// policy file must not stop the commands that do not use it (list,
// install without --yes, token).
type state struct {
	home  string
	store *store.Store
}

func policyPath(home string) string { return catalog.PolicyPath(home) }

func openState(home string) (*state, error) {
	if home == "" {
		var err error
		if home, err = supervisor.DefaultHome(); err != nil {
			return nil, err
		}
	}
	home, err := filepath.Abs(home)
	if err != nil {
		return nil, err
	}
	if err := supervisor.EnsureHome(home); err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(home, "modules"))
	if err != nil {
		return nil, err
	}
	return &state{home: home, store: st}, nil
}

// grants reads the operator's grants, for commands that only read them.
func (s *state) grants() (*policies.Grants, error) { return policies.LoadGrants(policyPath(s.home)) }

// updateGrants changes the tool's grants under the policy file's lock,
// provided the tool is still installed at the version the command loaded:
// a grant must not outlive a concurrent remove, nor go to another version
// than the one whose manifest the operator was shown.
func (s *state) updateGrants(t *store.Tool, change func(*policies.ToolGrants) error) error {
	return policies.UpdateGrants(policyPath(s.home), func(g *policies.Grants) error {
		v, err := s.store.Version(t.Name())
		if err != nil {
			return fmt.Errorf("%s was removed meanwhile", t.Name())
		}
		if filepath.Join(s.store.Dir(), v) != t.Dir {
			return fmt.Errorf("%s was replaced by another install meanwhile; run the command again", t.Name())
		}
		return change(g.Tool(t.Name()))
	})
}

// oneArg is the only argument of a top-level command that takes one, what
// it is (a "tool name", a "module directory"); any other count of
// arguments is a usage error that says what the command wants.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError{fmt.Sprintf("%s: want exactly one %s (see 'agent-ctl %s --help')", c.Command.Name, what, c.Command.Name)}
	}
	return c.Args().First(), nil
}

// openCatalog opens the state and the catalog of --home, for the commands
// that install, roll back or call tools through the catalog.
func openCatalog(c *cli.Context) (*state, *catalog.Catalog, error) {
	st, err := openState(c.String("home"))
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Open(st.home)
	if err != nil {
		return nil, nil, err
	}
	return st, cat, nil
}

// toolNameArg opens the state for a command whose only argument is a
// tool's name, and returns the name.
func toolNameArg(c *cli.Context) (*state, string, error) {
	name, err := oneArg(c, "tool name")
	if err != nil {
		return nil, "", err
	}
	st, err := openState(c.String("home"))
	if err != nil {
		return nil, "", err
	}
	return st, name, nil
}

// toolArg opens the state and loads the tool named by the only argument.
func toolArg(c *cli.Context) (*state, *store.Tool, error) {
	st, name, err := toolNameArg(c)
	if err != nil {
		return nil, nil, err
	}
	t, err := st.store.Get(name)
	if err != nil {
		return nil, nil, toolErr(c, err)
	}
	return st, t, nil
}

// toolErr reports a tool that cannot be loaded: 127 when it is not
// installed, 126 when its installed files are damaged.
func toolErr(c *cli.Context, err error) error {
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(err))
	switch {
	case errors.Is(err, store.ErrNotInstalled):
		return exitError{supervisor.ExitNotFound}
	case errors.Is(err, store.ErrDamaged), errors.Is(err, catalog.ErrGrantsHeld):
		return exitError{supervisor.ExitInvalid}
	}
	return exitError{supervisor.ExitInternal}
}

// short is the start of a digest, as list and install print it.
func short(digest string) string { return digest[:min(12, len(digest))] }

// writeJSON prints v as indented JSON, as every --json does.
func writeJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
