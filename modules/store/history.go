package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

const (
	// recordFile is a version's record: what history shows of it.
	recordFile = "record.json"
	// DefaultKeep is how many versions of a tool the store keeps (the
	// current one among them) unless an install says otherwise.
	DefaultKeep = 5
	// maxKeep bounds InstallOptions.Keep: every version kept is a module
	// on disk (up to wasmfile.MaxSize).
	maxKeep = 100
)

// ErrNoVersion is wrapped when a rollback finds no version to go to.
var ErrNoVersion = errors.New("no such version")

// isDigestPrefix reports whether s can be the start of a hex sha256, long
// enough (12 digits) to name one version among a few.
func isDigestPrefix(s string) bool {
	if len(s) < 12 || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// record is what the store keeps of a version beside its files, written
// once at install.
type record struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Digest    string    `json:"digest"`
	Installed time.Time `json:"installed"`
	// Signer is the name of the key the install verified; "" unsigned.
	Signer string `json:"signer,omitempty"`
	// Keep is how many versions of the tool to keep, from this install on
	// (0: DefaultKeep).
	Keep int `json:"keep,omitempty"`
}

// recordReads counts readRecord's reads, for the test that collect does
// not read every version's record at every install.
var recordReads atomic.Int64

// readRecord reads a version's record; nil for a version installed before
// records were written.
func readRecord(dir string) (*record, error) {
	recordReads.Add(1)
	b, err := statefile.ReadFile(filepath.Join(dir, recordFile), 4096)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &record{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
	}
	return r, nil
}

// Version is one installed version of a tool, as History lists it.
type Version struct {
	// Version is the manifest's version.
	Version string `json:"version"`
	// Digest is the module's hex sha256.
	Digest string `json:"digest"`
	// Installed is when it was installed; zero when not recorded (a
	// version installed before agent-ctl recorded it).
	Installed time.Time `json:"installed"`
	// Signer names the key it was signed with; "" means unsigned.
	Signer string `json:"signer"`
	// Current is set on the version calls run now.
	Current bool `json:"current"`
	// Dir is the version's directory in the store.
	Dir string `json:"-"`
	// Err says why the version cannot be loaded; nil when it can.
	Err error `json:"-"`
}

// versionOf returns the tool name of a version directory's name,
// NAME-DIGEST16-RANDOM16: tool names may hold dashes, the two fixed-length
// parts after them cannot.
func versionOf(dirName string) (name string, ok bool) {
	const suffix = 1 + 16 + 1 + 16
	if len(dirName) <= suffix || dirName[len(dirName)-suffix] != '-' || dirName[len(dirName)-17] != '-' {
		return "", false
	}
	name = dirName[:len(dirName)-suffix]
	return name, nameRE().MatchString(name)
}

// History lists the versions of a tool the store keeps, newest install
// first; the current one is marked. A version whose files are damaged is
// listed with its Err set. A tool not installed (or removed) is an error
// wrapping ErrNotInstalled.
func (s *Store) History(name string) ([]Version, error) {
	if !nameRE().MatchString(name) {
		return nil, fmt.Errorf("%w: %q", ErrNotInstalled, name)
	}
	current, err := os.Readlink(filepath.Join(s.dir, name))
	if err != nil {
		// A removed tool has no history: its versions wait only for
		// the calls that resolved them before the remove.
		return nil, fmt.Errorf("%w: %s (see agent-ctl list)", ErrNotInstalled, name)
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, versionsDir))
	if err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", name, err)
	}
	var out []Version
	for _, e := range entries {
		if n, ok := versionOf(e.Name()); !ok || n != name || !e.IsDir() {
			continue
		}
		target := filepath.Join(versionsDir, e.Name())
		v := Version{Dir: filepath.Join(s.dir, target), Current: target == current}
		if t, err := s.load(name, target); err != nil {
			v.Err = err
			if fi, err := e.Info(); err == nil {
				v.Installed = fi.ModTime()
			}
		} else {
			v.Version, v.Digest, v.Signer, v.Installed = t.Manifest().Version, t.Digest, t.Signer, t.Installed
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Installed.After(out[j].Installed) })
	return out, nil
}

// Rollback makes another kept version of a tool current, as an install
// does (one rename of its link, under the store's lock). to names it: a
// manifest version ("1.0.0"; the newest install of it), or a digest
// ("sha256:" and at least 12 hex digits of it). Empty means the version
// installed before the current one. The target's module is hashed again
// and must match its recorded digest. It returns the new current version
// and the one it replaced.
func (s *Store) Rollback(name, to string) (now, was *Tool, err error) {
	hist, err := s.History(name)
	if err != nil {
		return nil, nil, err
	}
	cur := -1
	for i, v := range hist {
		if v.Current {
			cur = i
		}
	}
	pick := -1
	switch {
	case to == "":
		// The next older loadable version after the current one.
		for i := cur + 1; i < len(hist) && cur >= 0; i++ {
			if hist[i].Err == nil {
				pick = i
				break
			}
		}
		if pick < 0 {
			return nil, nil, fmt.Errorf("rolling back %s: %w: no version installed before the current one is kept (see agent-ctl history %s)", name, ErrNoVersion, name)
		}
	case strings.HasPrefix(to, "sha256:"):
		hex := strings.TrimPrefix(to, "sha256:")
		if !isDigestPrefix(hex) {
			return nil, nil, fmt.Errorf("rolling back %s: %q: want sha256: and at least 12 hex digits of the digest", name, to)
		}
		for i, v := range hist {
			if v.Err == nil && strings.HasPrefix(v.Digest, hex) {
				if pick >= 0 && hist[pick].Digest != v.Digest {
					return nil, nil, fmt.Errorf("rolling back %s: %s names more than one version; give more of the digest", name, to)
				}
				if pick < 0 {
					pick = i
				}
			}
		}
	default:
		for i, v := range hist {
			if v.Err == nil && v.Version == to {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return nil, nil, fmt.Errorf("rolling back %s: %w: %s is not among the versions kept (see agent-ctl history %s)", name, ErrNoVersion, to, name)
	}
	target, err := filepath.Rel(s.dir, hist[pick].Dir)
	if err != nil {
		return nil, nil, err
	}
	want := hist[pick].Digest
	check := func() error {
		// Under the lock, where no collect runs: the version is still
		// there, and its module still hashes as recorded.
		t, err := s.load(name, target)
		if err != nil {
			return fmt.Errorf("rolling back %s to %s: %w", name, hist[pick].Version, err)
		}
		digest, err := wasmfile.Check(t.Module)
		if err != nil {
			return fmt.Errorf("rolling back %s to %s: %w (remove that version's directory %s, or install it again)", name, hist[pick].Version, err, hist[pick].Dir)
		}
		if digest != want {
			return fmt.Errorf("rolling back %s to %s: %w: its module's sha256 is %s, not the %s installed (the file changed on disk; install it again)", name, hist[pick].Version, ErrDamaged, digest, want)
		}
		return nil
	}
	old, err := s.swap(name, target, check)
	if err != nil {
		return nil, nil, err
	}
	now, err = s.Get(name)
	if err != nil {
		return nil, nil, err
	}
	if old != "" && old != target {
		was, _ = s.load(name, old)
	}
	return now, was, nil
}

// collect removes the versions the store no longer keeps, once they were
// retired more than retireAge ago: every version of a tool no longer
// installed, and for an installed tool those past the Keep its current
// version's record says (DefaultKeep without one), oldest install first.
// The current version is always kept.
//
// It runs at every install and remove, so it reads records only where
// one can change the outcome: a tool's versions are grouped by their
// directory names, the current version's record is read only when the
// tool has other versions, and the others' only when there are more of
// them than it keeps. Reading every record at every install made
// installing n tools read n² records (issue 18: 1,000 installs).
func (s *Store) collect() {
	type version struct {
		dir       string
		installed time.Time
	}
	current := map[string]string{}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			if t, err := os.Readlink(filepath.Join(s.dir, e.Name())); err == nil {
				current[e.Name()] = filepath.Base(t)
			}
		}
	}
	byTool := map[string][]version{}
	vdir := filepath.Join(s.dir, versionsDir)
	entries, _ = os.ReadDir(vdir)
	for _, e := range entries {
		name, ok := versionOf(e.Name())
		if !ok {
			// Not a version directory (an older layout): collected as a
			// version of no installed tool.
			name = ""
		}
		byTool[name] = append(byTool[name], version{dir: e.Name()})
	}
	for name, vs := range byTool {
		cur, installed := current[name]
		keep := 0
		if installed {
			others := len(vs)
			if slices.ContainsFunc(vs, func(v version) bool { return v.dir == cur }) {
				others--
			}
			if others == 0 {
				continue
			}
			keep = DefaultKeep
			if r, err := readRecord(filepath.Join(vdir, cur)); err == nil && r != nil && r.Keep > 0 {
				keep = r.Keep
			}
			// The current version counts among those kept.
			if others < keep {
				continue
			}
			// Which ones are kept goes by install time.
			for i := range vs {
				if r, err := readRecord(filepath.Join(vdir, vs[i].dir)); err == nil && r != nil {
					vs[i].installed = r.Installed
				}
			}
			sort.SliceStable(vs, func(i, j int) bool { return vs[i].installed.After(vs[j].installed) })
		}
		kept := 0
		for _, v := range vs {
			if v.dir == cur {
				continue
			}
			// The current version counts among those kept.
			if kept+1 < keep {
				kept++
				continue
			}
			if fi, err := os.Stat(filepath.Join(vdir, v.dir)); err == nil && time.Since(fi.ModTime()) > retireAge {
				_ = os.RemoveAll(filepath.Join(vdir, v.dir))
			}
		}
	}
}
