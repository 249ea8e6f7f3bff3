// Package catalog is the one dispatch of installed tools that the CLI and
// the MCP servers share: it loads tools (once per installed version), the
// operator's grants (again only when the policy file changes), checks a
// call's arguments against the tool's schema and builds the call's policy,
// so that every front-end runs a tool with the same worker, policy and
// limits through supervisor.Invoke.
package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
)

var (
	// ErrArgs is wrapped by the errors of arguments that a tool's schema
	// refuses; the message names the argument and why.
	ErrArgs = manifest.ErrArgs
	// ErrGrantsHeld is wrapped when a tool's grants were given for another
	// version of it than the one installed: its calls are refused until the
	// operator confirms them (the message says how).
	ErrGrantsHeld = errors.New("grants held")
)

// Catalog is the installed tools and grants under one home. It is safe
// for concurrent use and sees installs, removals and grant changes made by
// other processes at the next call.
type Catalog struct {
	home  string
	store *store.Store

	mu     sync.Mutex
	tools  map[string]loaded
	grants *policies.Grants
	stamp  Stamp
}

type loaded struct {
	version string
	tool    *store.Tool
}

// Stamp tells whether a file changed since it was read: compare the
// StampOf before reading with a later one. The zero Stamp is a missing
// file.
type Stamp struct {
	exists bool
	size   int64
	mtime  time.Time
	ino    uint64
}

// PolicyPath is where the operator's grants live under home.
func PolicyPath(home string) string { return filepath.Join(home, "policy.json") }

// Open returns the catalog under home (an absolute, existing directory).
func Open(home string) (*Catalog, error) {
	st, err := store.Open(filepath.Join(home, "modules"))
	if err != nil {
		return nil, err
	}
	return &Catalog{home: home, store: st, tools: map[string]loaded{}}, nil
}

// Store is the module store.
func (c *Catalog) Store() *store.Store { return c.store }

// Tool returns an installed tool, loading it again only when a new
// version was installed since.
func (c *Catalog) Tool(name string) (*store.Tool, error) {
	v, err := c.store.Version(name)
	if err != nil {
		c.mu.Lock()
		delete(c.tools, name)
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Lock()
	l, ok := c.tools[name]
	c.mu.Unlock()
	if ok && l.version == v {
		return l.tool, nil
	}
	t, err := c.store.Get(name)
	if err != nil {
		return nil, err
	}
	// Keyed by the version Get actually loaded: a concurrent install is
	// seen at the next call.
	if v2, err := c.store.Version(name); err == nil && filepath.Join(c.store.Dir(), v2) == t.Dir {
		c.mu.Lock()
		c.tools[name] = loaded{version: v2, tool: t}
		c.mu.Unlock()
	}
	return t, nil
}

// Tools returns every installed tool by name; one that fails to load is
// reported in the error without hiding the others.
func (c *Catalog) Tools() ([]*store.Tool, error) {
	names, err := c.store.Names()
	if err != nil {
		return nil, err
	}
	var out []*store.Tool
	var errs []error
	for _, n := range names {
		t, err := c.Tool(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
	}
	return out, errors.Join(errs...)
}

// Grants returns what the operator granted the tool (never nil).
func (c *Catalog) Grants(name string) (*policies.ToolGrants, error) {
	g, err := c.loadGrants()
	if err != nil {
		return nil, err
	}
	if t := g.Tools[name]; t != nil {
		return t, nil
	}
	return &policies.ToolGrants{}, nil
}

func (c *Catalog) loadGrants() (*policies.Grants, error) {
	path := PolicyPath(c.home)
	st := StampOf(path)
	c.mu.Lock()
	if c.grants != nil && st == c.stamp {
		g := c.grants
		c.mu.Unlock()
		return g, nil
	}
	c.mu.Unlock()
	g, err := policies.LoadGrants(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.grants, c.stamp = g, st
	c.mu.Unlock()
	return g, nil
}

// Stamps returns the stamps of the module store's directory and of the
// policy file now. Every install, replacement and removal renames or
// removes an entry of the store's directory, which changes its stamp, and
// every grant change replaces the policy file: a front-end that saw both
// stamps unchanged knows the tools and grants are as it last loaded them,
// provided the stamps are not racy (see Stamp.Settled).
func (c *Catalog) Stamps() (store, policy Stamp) {
	return StampOf(c.store.Dir()), StampOf(PolicyPath(c.home))
}

// settleTime is how old a stamp's mtime must be to be trusted: a file
// system stamps a change with a coarse clock (a few milliseconds), so a
// second change within the same tick as the stamp that was read could
// leave it equal.
const settleTime = time.Second

// Settled reports whether the stamp can tell a later change: its file is
// missing, or its mtime is older than the file system's timestamp
// granularity with a wide margin, so that any later change gives a later
// mtime.
func (s Stamp) Settled() bool {
	return !s.exists || time.Since(s.mtime) > settleTime
}

// StampOf returns the stamp of the file at path now.
func StampOf(path string) Stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}
	}
	return Stamp{exists: true, size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
}

// Prepared is a checked call of an installed tool: what a front-end hands
// to supervisor.Invoke. The catalog sits below the supervisor, so it
// returns the parts of the call rather than the supervisor's own type.
type Prepared struct {
	// Module is the path of the tool's module file in the store.
	Module string
	// Name is the tool's name, as its manifest gives it.
	Name string
	// Args is the argv the module receives after its name.
	Args []string
	// Policy is what the operator granted the tool.
	Policy policies.Policy
	// Digest is the module's hex sha256 as the store recorded it at
	// install: the call must refuse a module file that no longer hashes so.
	Digest string
	// Version is the tool's manifest version, and Params the call's
	// arguments with writeOnly ones redacted: what the audit log records.
	Version string
	Params  map[string]any
}

// Call checks args (as decoded from JSON, or as the CLI parsed its flags)
// against the tool's schema and returns the call to hand to
// supervisor.Invoke: the module, its argv and the policy the operator
// granted. An argument error wraps ErrArgs.
func (c *Catalog) Call(name string, args map[string]any) (*Prepared, error) {
	return c.CallEnv(name, args, nil)
}

// CallEnv is Call with the host variables that grants pass from the host
// (`grant --env KEY`) read through lookup (nil: os.LookupEnv): the daemon
// socket reads them from its client's environment, not its own.
func (c *Catalog) CallEnv(name string, args map[string]any, lookup func(string) (string, bool)) (*Prepared, error) {
	t, err := c.Tool(name)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(args); err != nil {
		return nil, err
	}
	argv, err := t.Argv(args)
	if err != nil {
		return nil, err
	}
	g, err := c.Grants(name)
	if err != nil {
		return nil, err
	}
	if g.HeldFrom(t.Digest) {
		return nil, c.held(t, g)
	}
	m := t.Manifest()
	pol, err := g.Policy(policies.Requested{Memory: m.MemoryLimit(), Timeout: m.TimeoutLimit(), MaxOutput: m.OutputLimit()}, lookup)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Prepared{Module: t.Module, Name: m.Name, Args: argv, Policy: pol, Digest: t.Digest, Version: m.Version, Params: t.Redact(args)}, nil
}
