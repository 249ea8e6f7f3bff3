package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// Errors of the policy's edits.
var (
	// ErrKeyExists is returned when a key or its name is already trusted.
	ErrKeyExists = errors.New("key already trusted")
	// ErrNoKey is returned when no trusted key has the name given.
	ErrNoKey = errors.New("no trusted key of that name")
)

// policyFile is the policy's name in $AGENTCTL_HOME.
const policyFile = "trust.json"

// maxPolicy bounds the policy file read: thousands of keys.
const maxPolicy = 1 << 20

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`) })

// Policy is the operator's trust policy: the trusted keys, and whether
// install requires a module signed by one of them. The zero Policy (no
// file yet) trusts no key and requires nothing.
type Policy struct {
	// Require refuses, at install, a module that no trusted key signed.
	Require bool `json:"require"`
	// Keys are the trusted keys, in the order they were added.
	Keys []Key `json:"keys"`
}

// Path is the policy file's path under home.
func Path(home string) string { return filepath.Join(home, policyFile) }

// Load reads the policy in home; a missing file is the zero Policy.
func Load(home string) (*Policy, error) {
	b, err := statefile.ReadFile(Path(home), maxPolicy)
	if errors.Is(err, os.ErrNotExist) {
		return &Policy{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading trust policy: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading trust policy %s: %w", Path(home), err)
	}
	return &p, nil
}

// Update changes the policy in home under its lock and writes it back
// atomically (statefile), so that two agent-ctl processes editing it at
// once both keep their change. Nothing is written if change fails.
func Update(home string, change func(*Policy) error) error {
	l, err := statefile.Lock(Path(home))
	if err != nil {
		return err
	}
	defer l.Release()
	p, err := Load(home)
	if err != nil {
		return err
	}
	if err := change(p); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := statefile.WriteFile(Path(home), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing trust policy: %w", err)
	}
	return nil
}

// Add trusts k under k.Name, which must be a valid name (letters, digits,
// ".", "_", "@", "+", "-"; at most 64) not already used, for a key not
// already trusted.
func (p *Policy) Add(k Key) error {
	if !nameRE().MatchString(k.Name) {
		return fmt.Errorf("key name %q: want letters, digits, \".\", \"_\", \"@\", \"+\" and \"-\", at most 64, starting with a letter or digit", k.Name)
	}
	if _, err := k.public(); err != nil {
		return fmt.Errorf("key %s: %w", k.Name, err)
	}
	for _, o := range p.Keys {
		if o.Name == k.Name {
			return fmt.Errorf("%w: a key named %s (ID %s)", ErrKeyExists, o.Name, o.ID)
		}
		if o.ID == k.ID {
			return fmt.Errorf("%w: key ID %s, named %s", ErrKeyExists, o.ID, o.Name)
		}
	}
	p.Keys = append(p.Keys, k)
	return nil
}

// Remove stops trusting the key named name.
func (p *Policy) Remove(name string) error {
	for i, k := range p.Keys {
		if k.Name == name {
			p.Keys = append(p.Keys[:i], p.Keys[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNoKey, name)
}

// Result is what VerifyDir found of a module directory it let in.
type Result struct {
	// Signer is the trusted key that signed both files; its Name is empty
	// when the module is let in unverified.
	Signer Key
	// Problem says why the module is not verified, when the policy lets it
	// in anyway (trust require off) although it carries signature files:
	// for a warning. It is nil when the module is verified, and when it
	// carries no signature at all.
	Problem *Error
}

// VerifyDir verifies the module directory dir under the operator's policy
// in home. It returns an error (an *Error naming the file and the reason)
// when the module is refused: under trust require on, whenever it does not
// verify; under off, only when a trusted key's signature does not match
// its file (ErrBadSignature: the file changed after a trusted key signed
// it, which is tampering or damage, never what the operator wants). Under
// off an unsigned module, or one signed by an unknown key, with a
// malformed signature, or signed in part, is let in unverified, and
// Result.Problem says why for a warning.
//
// dir must not change while it is checked and then installed: give it a
// directory only the caller writes (Stage makes one), or check the
// installed copy.
func VerifyDir(home, dir string) (*Result, error) {
	p, err := Load(home)
	if err != nil {
		return nil, err
	}
	k, err := Verify(dir, p.Keys)
	if err == nil {
		return &Result{Signer: k}, nil
	}
	var e *Error
	if !errors.As(err, &e) || p.Require || errors.Is(e.Reason, ErrBadSignature) {
		return nil, err
	}
	if e.none {
		return &Result{}, nil
	}
	return &Result{Problem: e}, nil
}

// Stage copies the module directory src (manifest.json, the module it
// names and their signature files) into a new private directory under
// home and verifies the copy with VerifyDir: what is then installed from
// the copy is what was verified, whatever happens to src meanwhile. The
// caller installs from dir and calls cleanup afterwards (also on error).
func Stage(home, src string) (dir string, res *Result, cleanup func(), err error) {
	tmp, cleanup, err := PrivateDir(home)
	if err != nil {
		return "", nil, cleanup, fmt.Errorf("staging %s: %w", src, err)
	}
	m, raw, err := manifest.Load(src)
	if err != nil {
		return "", nil, cleanup, fmt.Errorf("staging %s: %w", src, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, manifest.FileName), raw, 0o600); err != nil {
		return "", nil, cleanup, fmt.Errorf("staging %s: %w", src, err)
	}
	module := m.ModuleFile()
	// One byte past each limit is copied, so that the checks after the
	// copy see a file too large as too large.
	for _, f := range []struct {
		name     string
		limit    int64
		optional bool
	}{
		{module, wasmfile.MaxSize + 1, false},
		{manifest.FileName + SigSuffix, maxSig + 1, true},
		{module + SigSuffix, maxSig + 1, true},
	} {
		_, err := statefile.CopyNew(filepath.Join(src, f.name), filepath.Join(tmp, f.name), f.limit)
		if f.optional && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, cleanup, fmt.Errorf("staging %s: %w", src, err)
		}
	}
	res, err = VerifyDir(home, tmp)
	if err != nil {
		return "", nil, cleanup, err
	}
	return tmp, res, cleanup, nil
}

// privatePrefix names the private directories under home; staleAfter is
// when one is left over from an agent-ctl that died (an install takes
// seconds to minutes).
const (
	privatePrefix = ".verify-"
	staleAfter    = time.Hour
)

// PrivateDir makes a new directory (0700) under home for a module on its
// way to being installed, and returns it with the function that removes
// it. It first removes those an agent-ctl that died left behind.
func PrivateDir(home string) (dir string, cleanup func(), err error) {
	old, _ := filepath.Glob(filepath.Join(home, privatePrefix+"*"))
	for _, d := range old {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > staleAfter {
			os.RemoveAll(d)
		}
	}
	dir, err = os.MkdirTemp(home, privatePrefix)
	if err != nil {
		return "", func() {}, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
