// Package store keeps the installed tools: one directory per installed
// version, each with its manifest and module, and a symlink per tool name
// naming the current version. Installing writes the new version aside and
// swaps the symlink in one rename, so a call sees either the old version or
// the new one, and a bad module leaves the installed version untouched.
package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

var (
	// ErrNotInstalled is wrapped when a tool is not installed.
	ErrNotInstalled = errors.New("tool not installed")
	// ErrDamaged is wrapped when an installed tool's files are damaged or
	// missing; the tool can still be removed.
	ErrDamaged = errors.New("installed files damaged")
)

const (
	digestFile  = "digest"
	versionsDir = ".versions"
)

// Compiled on first use: agent-ctl starts (and each container init) need not pay for it.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`) })

// Store is the directory of installed tools. It is safe for concurrent
// use, by goroutines and by processes: installs and removals swap links
// under the store's lock (the file modules.lock beside it), and readers
// take no lock.
type Store struct{ dir string }

// Open returns the store in dir, creating it (0700).
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, versionsDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating module store: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Tool is one installed tool.
type Tool struct {
	*manifest.Tool
	// Dir is the installed version's directory.
	Dir string
	// Module is the path of its .wasm file; Digest its hex sha256.
	Module string
	Digest string
	// Signer names the key the version was signed with, as the install
	// that verified it recorded it; empty means unsigned.
	Signer string
	// Installed is when this version was installed; zero for a version
	// installed before agent-ctl recorded it.
	Installed time.Time
}

// Name is the tool's name.
func (t *Tool) Name() string { return t.Manifest().Name }

// Install validates the module directory src (manifest.json and the .wasm
// it names), or a .tar.gz of one, and installs it, replacing an installed
// version of the same name. Nothing changes unless everything checks out.
// It is InstallWith without options.
func (s *Store) Install(src string) (*Tool, error) {
	t, _, err := s.InstallWith(src, nil)
	return t, err
}

// InstallOptions are how a version is installed; nil means the zero value
// of every field.
type InstallOptions struct {
	// Signer is recorded as the name of the key whose signature the caller
	// verified over the manifest and the module; empty records "unsigned".
	// The store records it, it does not check it.
	Signer string
	// Keep is how many versions of the tool the store keeps (the current
	// one among them) from this install on; 0 means DefaultKeep.
	Keep int
}

// InstallWith is Install with options. It returns the new version and the
// version it replaced (nil when there was none, or when the replaced one
// does not load).
func (s *Store) InstallWith(src string, o *InstallOptions) (installed, replaced *Tool, err error) {
	if o == nil {
		o = &InstallOptions{}
	}
	if o.Keep < 0 || o.Keep > maxKeep {
		return nil, nil, fmt.Errorf("installing %s: keep %d versions: want 1 to %d", src, o.Keep, maxKeep)
	}
	t, old, err := s.install(src, o)
	if err != nil {
		return nil, nil, err
	}
	if old != "" {
		replaced, _ = s.load(t.Name(), old)
	}
	return t, replaced, nil
}

func (s *Store) install(src string, o *InstallOptions) (*Tool, string, error) {
	if isArchive(src) {
		root, dir, err := unpack(src, s.dir)
		if err != nil {
			return nil, "", fmt.Errorf("installing %s: %w", src, err)
		}
		defer os.RemoveAll(root)
		src = dir
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", src, err)
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("installing %s: not a module directory or .tar.gz (want %s and the .wasm it names)", src, manifest.FileName)
	}
	m, raw, err := manifest.Load(src)
	if err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", src, err)
	}
	if _, err := m.Compile(); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", src, err)
	}
	wasm := filepath.Join(src, m.ModuleFile())
	wfi, err := os.Lstat(wasm)
	if err != nil {
		return nil, "", fmt.Errorf("installing %s: the manifest names module %s: %w", src, m.ModuleFile(), err)
	}
	if !wfi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("installing %s: module %s is not a regular file", src, m.ModuleFile())
	}
	digest, err := wasmfile.Check(wasm)
	if err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", src, err)
	}

	staging, err := os.MkdirTemp(s.dir, ".staging-")
	if err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	defer os.RemoveAll(staging) // a no-op once renamed
	if err := writeFile(filepath.Join(staging, manifest.FileName), raw); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	if _, err := statefile.CopyNew(wasm, filepath.Join(staging, m.ModuleFile()), wasmfile.MaxSize+1); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	// The copy is what runs: check it hashes as checked.
	if got, err := wasmfile.Check(filepath.Join(staging, m.ModuleFile())); err != nil || got != digest {
		return nil, "", fmt.Errorf("installing %s: module %s changed while it was being copied", m.Name, m.ModuleFile())
	}
	if err := writeFile(filepath.Join(staging, digestFile), []byte(digest+"\n")); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	rec, err := json.Marshal(record{Name: m.Name, Version: m.Version, Digest: digest, Installed: time.Now().UTC(), Signer: o.Signer, Keep: o.Keep})
	if err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	if err := writeFile(filepath.Join(staging, recordFile), append(rec, '\n')); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}

	version := fmt.Sprintf("%s-%s-%s", m.Name, digest[:16], random())
	vdir := filepath.Join(s.dir, versionsDir, version)
	if err := statefile.SyncDir(staging); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	if err := os.Rename(staging, vdir); err != nil {
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	old, err := s.swap(m.Name, filepath.Join(versionsDir, version), nil)
	if err != nil {
		os.RemoveAll(vdir)
		return nil, "", fmt.Errorf("installing %s: %w", m.Name, err)
	}
	t, err := s.Get(m.Name)
	return t, old, err
}

// swap points the tool's link at target under the store's lock, retires
// the version it pointed at and collects old versions. Without the lock,
// two installs of one tool could both read the same old version, and the
// version one of them replaced was never retired: collected at once,
// under a call still reading it. check, when not nil, runs under the lock
// first and can refuse the swap (rollback checks its target there, where
// no collect can remove it). swap returns the link's old target.
func (s *Store) swap(name, target string, check func() error) (string, error) {
	l, err := s.lock()
	if err != nil {
		return "", err
	}
	defer l.Release()
	if check != nil {
		if err := check(); err != nil {
			return "", err
		}
	}
	if err := statefile.SyncDir(filepath.Join(s.dir, versionsDir)); err != nil {
		return "", err
	}
	old, _ := os.Readlink(filepath.Join(s.dir, name))
	link := filepath.Join(s.dir, ".link-"+random())
	if err := os.Symlink(target, link); err != nil {
		return "", err
	}
	if err := os.Rename(link, filepath.Join(s.dir, name)); err != nil {
		os.Remove(link)
		return "", err
	}
	if err := statefile.SyncDir(s.dir); err != nil {
		return "", err
	}
	if old != "" && old != target {
		s.retire(old)
	}
	s.collect()
	return old, nil
}

// lock takes the store's lock.
func (s *Store) lock() (*statefile.Held, error) {
	l, err := statefile.Lock(s.dir)
	if err != nil {
		return nil, fmt.Errorf("locking module store: %w", err)
	}
	return l, nil
}

// Version names the installed version of a tool (its directory in the
// store), which changes with every install: a cheap way to tell whether a
// loaded Tool is still current.
func (s *Store) Version(name string) (string, error) {
	if !nameRE().MatchString(name) {
		return "", fmt.Errorf("%w: %q", ErrNotInstalled, name)
	}
	target, err := os.Readlink(filepath.Join(s.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s (see agent-ctl list)", ErrNotInstalled, name)
	}
	return target, err
}

// Names lists the installed tools' names, sorted, without loading them.
func (s *Store) Names() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing tools: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 && nameRE().MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Get loads an installed tool. A tool whose installed files are damaged or
// missing (a manifest that does not parse, a digest that is not one, a
// missing module) is an error wrapping ErrDamaged that says which file and
// how to repair it.
func (s *Store) Get(name string) (*Tool, error) {
	if !nameRE().MatchString(name) {
		return nil, fmt.Errorf("%w: %q", ErrNotInstalled, name)
	}
	target, err := os.Readlink(filepath.Join(s.dir, name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (see agent-ctl list)", ErrNotInstalled, name)
		}
		return nil, fmt.Errorf("loading tool %s: %w", name, err)
	}
	return s.load(name, target)
}

// load loads the version of tool name at target (relative to the store).
func (s *Store) load(name, target string) (*Tool, error) {
	damaged := func(err error) error {
		return fmt.Errorf("loading tool %s: %w: %w (reinstall it with 'agent-ctl install DIR', or uninstall it with 'agent-ctl remove %s')", name, ErrDamaged, err, name)
	}
	if filepath.IsAbs(target) || strings.Contains(target, "..") {
		return nil, damaged(errors.New("its link points outside the store"))
	}
	dir := filepath.Join(s.dir, target)
	m, _, err := manifest.Load(dir)
	if err != nil {
		return nil, damaged(err)
	}
	if m.Name != name {
		return nil, damaged(fmt.Errorf("%s names %q", filepath.Join(dir, manifest.FileName), m.Name))
	}
	t, err := m.Compile()
	if err != nil {
		return nil, damaged(fmt.Errorf("%s: %w", filepath.Join(dir, manifest.FileName), err))
	}
	d, err := statefile.ReadFile(filepath.Join(dir, digestFile), 128)
	if err != nil {
		return nil, damaged(err)
	}
	digest := strings.TrimSpace(string(d))
	if !digestRE().MatchString(digest) {
		return nil, damaged(fmt.Errorf("%s holds %q, not a sha256 in hex", filepath.Join(dir, digestFile), digest))
	}
	module := filepath.Join(dir, m.ModuleFile())
	if _, err := os.Stat(module); err != nil {
		return nil, damaged(err)
	}
	rec, err := readRecord(dir)
	if err != nil {
		return nil, damaged(err)
	}
	if rec != nil && (rec.Digest != digest || rec.Name != name) {
		return nil, damaged(fmt.Errorf("%s does not match the version's digest and name", filepath.Join(dir, recordFile)))
	}
	tool := &Tool{Tool: t, Dir: dir, Module: module, Digest: digest}
	if rec != nil {
		tool.Signer, tool.Installed = rec.Signer, rec.Installed
	}
	return tool, nil
}

// Compiled on first use, as nameRE.
var digestRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })

// List returns the installed tools by name. A tool that fails to load is
// reported in the error but does not hide the others.
func (s *Store) List() ([]*Tool, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing tools: %w", err)
	}
	var tools []*Tool
	var errs []error
	for _, e := range entries {
		if e.Type()&os.ModeSymlink == 0 || !nameRE().MatchString(e.Name()) {
			continue
		}
		t, err := s.Get(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tools = append(tools, t)
	}
	sort.Slice(tools, func(i, j int) bool { return tools[i].Name() < tools[j].Name() })
	return tools, errors.Join(errs...)
}

// Remove uninstalls a tool. It needs only the tool's link: a tool whose
// manifest, digest or module is damaged or gone can always be removed.
func (s *Store) Remove(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("%w: %q", ErrNotInstalled, name)
	}
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Release()
	link := filepath.Join(s.dir, name)
	target, err := os.Readlink(link)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrNotInstalled, name)
	}
	if err := os.Remove(link); err != nil {
		return fmt.Errorf("removing %s: %w", name, err)
	}
	if err := statefile.SyncDir(s.dir); err != nil {
		return fmt.Errorf("removing %s: %w", name, err)
	}
	if !filepath.IsAbs(target) && !strings.Contains(target, "..") {
		s.retire(target)
	}
	s.collect()
	return nil
}

// retireAge is how long a version stays on disk after it stopped being
// current: a call that resolved it just before the swap still reads its
// manifest and module (and a worker mounts the module) from there.
const retireAge = time.Minute

// retire marks a version as no longer current, from now.
func (s *Store) retire(target string) {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(s.dir, target), now, now)
}

func random() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
