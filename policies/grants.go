package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// Grants is the operator's policy file: what each installed tool is
// granted. A manifest only asks; nothing reaches a tool unless it is here.
// The file is JSON, editable by hand and by `agent-ctl grant` / `revoke`.
type Grants struct {
	// Tools maps a tool's name to its grants.
	Tools map[string]*ToolGrants `json:"tools"`
}

// ToolGrants is what one tool may use, pinned to the version it was
// granted for.
type ToolGrants struct {
	// Digest is the hex sha256 of the module these grants were given for:
	// they apply to calls of that module only, and another version's calls
	// are refused until the operator confirms them for it. Empty (a file
	// written before grants were pinned) means the version installed now,
	// and the next install pins them to it.
	Digest string `json:"digest,omitempty"`
	// Signer is the key the granted version was signed with, as the store
	// recorded it; empty means unsigned. A new version signed by the same
	// key that asks for nothing beyond these grants keeps them.
	Signer string `json:"signer,omitempty"`

	Dirs []DirGrant `json:"dirs,omitempty"`
	Env  []EnvGrant `json:"env,omitempty"`
	Net  []NetGrant `json:"net,omitempty"`
	// Limits lower the manifest's limits; they can never raise them.
	Limits LimitGrants `json:"limits,omitempty"`
}

// DirGrant is a host directory at a guest path.
type DirGrant struct {
	Host     string `json:"host"`
	Guest    string `json:"guest"`
	Writable bool   `json:"writable,omitempty"`
}

// EnvGrant passes a variable: its fixed Value, or the host's value at call
// time when FromHost is set.
type EnvGrant struct {
	Key      string `json:"key"`
	Value    string `json:"value,omitempty"`
	FromHost bool   `json:"fromHost,omitempty"`
}

// NetGrant allows connections to a CIDR or hostname on some ports.
type NetGrant struct {
	Host  string `json:"host"`
	Ports []int  `json:"ports"`
}

// LimitGrants are the operator's ceilings for one tool; empty means the
// manifest's own.
type LimitGrants struct {
	Memory    string `json:"memory,omitempty"`
	Timeout   string `json:"timeout,omitempty"`
	MaxOutput string `json:"maxOutput,omitempty"`
}

// fixPolicy says how to repair a policy file that does not load.
const fixPolicy = "fix it by hand, or move it aside to start again from nothing granted"

// maxGrantsFile bounds the policy file agent-ctl reads.
const maxGrantsFile = 4 << 20

// LoadGrants reads the policy file at path; a missing file is an empty
// policy (everything denied).
func LoadGrants(path string) (*Grants, error) {
	b, err := statefile.ReadFile(path, maxGrantsFile)
	if errors.Is(err, os.ErrNotExist) {
		return &Grants{Tools: map[string]*ToolGrants{}}, nil
	}
	if errors.Is(err, statefile.ErrTooLarge) {
		return nil, fmt.Errorf("%w: policy file %s is larger than %d bytes", ErrInvalid, path, maxGrantsFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading policy file: %w", err)
	}
	g := &Grants{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(g); err != nil {
		return nil, fmt.Errorf("%w: policy file %s is not valid: %w (%s)", ErrInvalid, path, err, fixPolicy)
	}
	if g.Tools == nil {
		g.Tools = map[string]*ToolGrants{}
	}
	for name, t := range g.Tools {
		if t == nil {
			g.Tools[name] = &ToolGrants{}
			continue
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("policy file %s: tool %s: %w (%s)", path, name, err, fixPolicy)
		}
	}
	return g, nil
}

// Save writes the policy file atomically and durably (a temporary file
// synced and renamed over it, the directory synced), readable by its owner
// only. It takes no lock: to change the file that other agent-ctl
// processes may change too, use UpdateGrants.
func (g *Grants) Save(path string) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	if err := statefile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing policy file: %w", err)
	}
	return nil
}

// UpdateGrants changes the policy file at path as one step among the
// agent-ctl processes that change it: under the file's lock it reads the
// policy as it is now, lets change edit it and, when change returns nil,
// writes it back. Without the lock, two concurrent changes each wrote back
// what they had read, and the one renamed in last undid the other (a
// revoked grant back in force). change's error is returned as is.
func UpdateGrants(path string, change func(*Grants) error) error {
	l, err := statefile.Lock(path)
	if err != nil {
		return fmt.Errorf("locking policy file: %w", err)
	}
	defer l.Release()
	g, err := LoadGrants(path)
	if err != nil {
		return err
	}
	if err := change(g); err != nil {
		return err
	}
	return g.Save(path)
}

// Tool returns a tool's grants, creating an empty entry.
func (g *Grants) Tool(name string) *ToolGrants {
	t := g.Tools[name]
	if t == nil {
		t = &ToolGrants{}
		g.Tools[name] = t
	}
	return t
}

// Empty reports whether nothing is granted (whatever the version pinned).
func (t *ToolGrants) Empty() bool {
	return t == nil || len(t.Dirs) == 0 && len(t.Env) == 0 && len(t.Net) == 0 && t.Limits == (LimitGrants{})
}

// HeldFrom reports whether these grants are held from a version whose
// module's digest is digest: given for another module, they must not
// apply until the operator confirms them. Grants pinned to no digest
// (written before grants were pinned) apply to the version installed.
func (t *ToolGrants) HeldFrom(digest string) bool {
	return !t.Empty() && t.Digest != "" && t.Digest != digest
}

// check validates what a hand-edited file may contain.
func (t *ToolGrants) check() error {
	if t.Digest != "" && !isHexDigest(t.Digest) {
		return fmt.Errorf("%w: digest %q: want the module's sha256 in hex", ErrInvalid, t.Digest)
	}
	for _, d := range t.Dirs {
		if !filepath.IsAbs(d.Host) {
			return fmt.Errorf("%w: directory grant %q: host path must be absolute", ErrInvalid, d.Host)
		}
		if _, err := (Dir{Host: d.Host, Guest: d.Guest}).resolveGuest(); err != nil {
			return err
		}
	}
	for _, e := range t.Env {
		if err := checkEnvKey(e.Key); err != nil {
			return err
		}
	}
	for _, n := range t.Net {
		if err := n.check(); err != nil {
			return err
		}
	}
	_, err := t.Limits.parse()
	return err
}

// GrantDir adds or replaces (by guest path) a directory grant, refusing one
// that would hand over the host or expose protected directories. The host
// path is stored absolute and clean; one with a symbolic link in it is
// refused (on Linux), as it is again at every call.
func (t *ToolGrants) GrantDir(d Dir, protected ...string) error {
	r, err := d.resolve(protected)
	if err != nil {
		return err
	}
	if r.File != nil {
		r.File.Close()
	}
	t.Dirs = slices.DeleteFunc(t.Dirs, func(x DirGrant) bool { return x.Guest == r.Guest })
	t.Dirs = append(t.Dirs, DirGrant{Host: r.Host, Guest: r.Guest, Writable: r.Writable})
	sort.Slice(t.Dirs, func(i, j int) bool { return t.Dirs[i].Guest < t.Dirs[j].Guest })
	return nil
}

// GrantEnv adds or replaces an environment grant: KEY=VALUE fixes a value,
// KEY alone passes the host's value at call time.
func (t *ToolGrants) GrantEnv(s string) error {
	k, v, fixed := strings.Cut(s, "=")
	if err := checkEnvKey(k); err != nil {
		return err
	}
	t.Env = slices.DeleteFunc(t.Env, func(x EnvGrant) bool { return x.Key == k })
	t.Env = append(t.Env, EnvGrant{Key: k, Value: v, FromHost: !fixed})
	sort.Slice(t.Env, func(i, j int) bool { return t.Env[i].Key < t.Env[j].Key })
	return nil
}

// ParseNetGrant reads HOST:PORT[,PORT…], where HOST is a CIDR, an address
// or a hostname.
func ParseNetGrant(s string) (NetGrant, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return NetGrant{}, fmt.Errorf("%w: --net %q: want HOST:PORT[,PORT...], e.g. 10.0.0.0/24:22,443", ErrInvalid, s)
	}
	n := NetGrant{Host: s[:i]}
	for _, p := range strings.Split(s[i+1:], ",") {
		port, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return NetGrant{}, fmt.Errorf("%w: --net %q: port %q is not a number", ErrInvalid, s, p)
		}
		n.Ports = append(n.Ports, port)
	}
	return n, n.check()
}

func (n NetGrant) check() error {
	if len(n.Ports) == 0 {
		return fmt.Errorf("%w: network grant %s has no ports", ErrInvalid, n.Host)
	}
	for _, p := range n.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%w: network grant %s: port %d is outside 1..65535", ErrInvalid, n.Host, p)
		}
	}
	if strings.Contains(n.Host, "/") {
		if _, err := netip.ParsePrefix(n.Host); err != nil {
			return fmt.Errorf("%w: network grant: %q is not a CIDR: %w", ErrInvalid, n.Host, err)
		}
		return nil
	}
	if _, err := netip.ParseAddr(n.Host); err == nil {
		return nil
	}
	if !validHostname(n.Host) {
		return fmt.Errorf("%w: network grant: %q is neither a CIDR, an address nor a hostname", ErrInvalid, n.Host)
	}
	return nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// GrantNet adds a network grant, merging ports for the same host.
func (t *ToolGrants) GrantNet(n NetGrant) error {
	if err := n.check(); err != nil {
		return err
	}
	for i := range t.Net {
		if t.Net[i].Host == n.Host {
			for _, p := range n.Ports {
				if !slices.Contains(t.Net[i].Ports, p) {
					t.Net[i].Ports = append(t.Net[i].Ports, p)
				}
			}
			slices.Sort(t.Net[i].Ports)
			return nil
		}
	}
	slices.Sort(n.Ports)
	t.Net = append(t.Net, n)
	return nil
}

// RevokeDir removes the grant at a guest path; RevokeEnv a variable;
// RevokeNet a host. Each reports whether there was anything to remove.
func (t *ToolGrants) RevokeDir(guest string) bool {
	n := len(t.Dirs)
	t.Dirs = slices.DeleteFunc(t.Dirs, func(x DirGrant) bool { return x.Guest == filepath.Clean(guest) })
	return len(t.Dirs) != n
}

// RevokeEnv removes the grant of the variable key.
func (t *ToolGrants) RevokeEnv(key string) bool {
	n := len(t.Env)
	t.Env = slices.DeleteFunc(t.Env, func(x EnvGrant) bool { return x.Key == key })
	return len(t.Env) != n
}

// RevokeNet removes the grant of host (a CIDR or a host name) and its ports.
func (t *ToolGrants) RevokeNet(host string) bool {
	n := len(t.Net)
	t.Net = slices.DeleteFunc(t.Net, func(x NetGrant) bool { return x.Host == host })
	return len(t.Net) != n
}

type limits struct {
	memory, maxOutput int64
	timeout           time.Duration
}

func (l LimitGrants) parse() (limits, error) {
	var out limits
	var err error
	if l.Memory != "" {
		if out.memory, err = ParseSize(l.Memory); err != nil {
			return out, fmt.Errorf("memory limit: %w", err)
		}
	}
	if l.MaxOutput != "" {
		if out.maxOutput, err = ParseSize(l.MaxOutput); err != nil {
			return out, fmt.Errorf("output limit: %w", err)
		}
	}
	if l.Timeout != "" {
		if out.timeout, err = time.ParseDuration(l.Timeout); err != nil || out.timeout <= 0 {
			return out, fmt.Errorf("%w: timeout %q: want a positive duration", ErrInvalid, l.Timeout)
		}
	}
	return out, nil
}

// Requested is what a tool's manifest asks for, as far as a call's policy
// is concerned.
type Requested struct {
	Memory, MaxOutput int64
	Timeout           time.Duration
}

// Policy builds a call's policy from a tool's grants: the granted
// directories and environment, and limits that take the lowest of the
// manifest's, the operator's and the defaults (a manifest can ask for more
// than the defaults; the operator's limits only lower). lookup reads host
// variables (nil: os.LookupEnv); a variable granted from the host but unset
// there is left out.
func (t *ToolGrants) Policy(req Requested, lookup func(string) (string, bool)) (Policy, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var p Policy
	if t == nil {
		t = &ToolGrants{}
	}
	for _, d := range t.Dirs {
		p.Dirs = append(p.Dirs, Dir{Host: d.Host, Guest: d.Guest, Writable: d.Writable})
	}
	for _, e := range t.Env {
		v := e.Value
		if e.FromHost {
			hv, ok := lookup(e.Key)
			if !ok {
				continue
			}
			v = hv
		}
		p.Env = append(p.Env, Env{Key: e.Key, Value: v})
	}
	for _, n := range t.Net {
		p.Net = append(p.Net, NetGrant{Host: n.Host, Ports: slices.Clone(n.Ports)})
	}
	l, err := t.Limits.parse()
	if err != nil {
		return p, err
	}
	p.Memory = lowest(req.Memory, l.memory)
	p.MaxOutput = lowest(req.MaxOutput, l.maxOutput)
	p.Timeout = time.Duration(lowest(int64(req.Timeout), int64(l.timeout)))
	return p, nil
}

// lowest is the smaller of the non-zero values, or zero (the default).
func lowest(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

func isHexDigest(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// resolveGuest checks a guest path without touching the host.
func (d Dir) resolveGuest() (string, error) {
	if !strings.HasPrefix(d.Guest, "/") {
		return "", fmt.Errorf("%w: guest path %q must be absolute", ErrInvalid, d.Guest)
	}
	guest := path.Clean(d.Guest)
	if guest != d.Guest && guest+"/" != d.Guest {
		return "", fmt.Errorf("%w: guest path %q is not clean (did you mean %s?)", ErrInvalid, d.Guest, guest)
	}
	return guest, nil
}
