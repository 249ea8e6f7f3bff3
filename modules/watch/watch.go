// Package watch keeps the tools of a drop-in directory installed: each
// subdirectory (a module directory: manifest.json and its module) is
// installed when it appears, installed again when it changes and removed
// when it goes, through the caller's install and remove (the same path as
// `agent-ctl install`). Changes are debounced per subdirectory, so a
// directory still being copied is not installed half-way; a drop that
// does not install leaves the installed version running, and is logged and
// recorded in a status file that `agent-ctl list` reads.
//
// It is the one package that imports fsnotify.
//
//	w, err := watch.New(&watch.Options{Dir: dir, Status: watch.StatusPath(home), Install: install, Remove: remove})
//	go w.Run(ctx)
package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// DefaultDebounce is how long a drop must stay unchanged before it is
// installed: long enough for a copy's writes to follow one another, short
// enough that a change is served within a second.
const DefaultDebounce = 300 * time.Millisecond

// Options configure a Watcher.
type Options struct {
	// Dir is the drop-in directory (required; it must exist).
	Dir string
	// Status is the status file (required): StatusPath(home).
	Status string
	// Install installs the module directory dir and returns the tool's
	// name (required).
	Install func(ctx context.Context, dir string) (tool string, err error)
	// Remove uninstalls a tool (required).
	Remove func(ctx context.Context, tool string) error
	// Changed is called after each install or removal (a front-end
	// publishes the change at once rather than at its next poll). Nil:
	// nothing is called.
	Changed func()
	// Debounce is how long a drop must stay unchanged before it is
	// handled. Zero: DefaultDebounce.
	Debounce time.Duration
	// Logger gets a line per install, removal and failure. Nil: discarded.
	Logger *slog.Logger
}

// Status is what the watcher last did with each drop, as the status file
// holds it.
type Status struct {
	// Dir is the drop-in directory (absolute).
	Dir string `json:"dir"`
	// Drops are by subdirectory name.
	Drops map[string]*Drop `json:"drops"`
}

// Drop is one subdirectory of the drop-in directory.
type Drop struct {
	// Tool is the tool installed from it; empty if none ever installed.
	Tool string `json:"tool,omitempty"`
	// Fingerprint hashes the files last installed from it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Installed is when it was last installed.
	Installed time.Time `json:"installed,omitzero"`
	// Error is why its current content did not install; empty when it did.
	Error string `json:"error,omitempty"`
	// Failed is when it last failed.
	Failed time.Time `json:"failed,omitzero"`
}

// maxStatus bounds the status file, read whole: thousands of drops.
const maxStatus = 4 << 20

// StatusPath is the status file under an agent-ctl home.
func StatusPath(home string) string { return filepath.Join(home, "watch.json") }

// ReadStatus reads a status file; a missing one is an empty Status.
func ReadStatus(path string) (*Status, error) {
	b, err := statefile.ReadFile(path, maxStatus)
	if errors.Is(err, os.ErrNotExist) {
		return &Status{Drops: map[string]*Drop{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading watch status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading watch status %s: %w (delete it: the next watch writes it anew)", path, err)
	}
	if s.Drops == nil {
		s.Drops = map[string]*Drop{}
	}
	return &s, nil
}

// Watcher watches one drop-in directory.
type Watcher struct {
	opts  Options
	log   *slog.Logger
	fsw   *fsnotify.Watcher
	due   chan string
	done  chan struct{} // closed when Run returns: timers stop sending
	timer map[string]*time.Timer
}

// New checks the options and starts watching Dir; Run handles what it sees.
func New(opts *Options) (*Watcher, error) {
	o := *opts
	if o.Dir == "" || o.Status == "" || o.Install == nil || o.Remove == nil {
		return nil, errors.New("watching: Dir, Status, Install and Remove are required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", o.Dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watching %s: not a directory", o.Dir)
	}
	o.Dir = dir
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	if err := fsw.Add(dir); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	return &Watcher{opts: o, log: log, fsw: fsw, due: make(chan string), done: make(chan struct{}), timer: map[string]*time.Timer{}}, nil
}

// Run handles changes until ctx ends: first every drop present (and every
// drop recorded in the status file that is gone since), then each change.
// Drops are handled one at a time.
func (w *Watcher) Run(ctx context.Context) {
	defer w.fsw.Close()
	defer close(w.done)
	defer func() {
		for _, t := range w.timer {
			t.Stop()
		}
	}()
	st, err := ReadStatus(w.opts.Status)
	if err != nil {
		w.log.Warn("watch status unreadable, starting anew", "err", err)
	}
	names := map[string]bool{}
	if err == nil && st.Dir == w.opts.Dir {
		for n := range st.Drops {
			names[n] = true
		}
	}
	entries, _ := os.ReadDir(w.opts.Dir)
	for _, e := range entries {
		names[e.Name()] = true
		w.watchDrop(e.Name())
	}
	for n := range names {
		w.schedule(n)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow loses events: look at every drop again.
			w.log.Warn("watch events lost, rescanning", "dir", w.opts.Dir, "err", err)
			entries, _ := os.ReadDir(w.opts.Dir)
			for _, e := range entries {
				w.schedule(e.Name())
			}
		case name := <-w.due:
			delete(w.timer, name)
			w.handle(ctx, name)
		}
	}
}

// event maps a change to the drop it belongs to, and watches a new drop's
// directory for changes to its files.
func (w *Watcher) event(ev fsnotify.Event) {
	rel, err := filepath.Rel(w.opts.Dir, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	name, _, nested := strings.Cut(rel, string(filepath.Separator))
	if !nested && ev.Has(fsnotify.Create) {
		// Files written before the watch is added are seen by the
		// install this Create schedules.
		w.watchDrop(name)
	}
	w.schedule(name)
}

// watchDrop watches a drop's directory for changes to its files (fsnotify
// does not watch subdirectories by itself).
func (w *Watcher) watchDrop(name string) {
	if strings.HasPrefix(name, ".") {
		return
	}
	path := filepath.Join(w.opts.Dir, name)
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		return
	}
	if err := w.fsw.Add(path); err != nil {
		w.log.Warn("not watching drop", "drop", name, "err", err)
	}
}

// schedule handles name once it has not changed for the debounce time.
func (w *Watcher) schedule(name string) {
	if strings.HasPrefix(name, ".") {
		return // a copy in progress (rsync's .name.XXXX) or hidden
	}
	if t, ok := w.timer[name]; ok {
		t.Reset(w.opts.Debounce)
		return
	}
	w.timer[name] = time.AfterFunc(w.opts.Debounce, func() {
		select {
		case w.due <- name:
		case <-w.done:
		}
	})
}

// handle installs, reinstalls or removes the tool of one drop.
func (w *Watcher) handle(ctx context.Context, name string) {
	st, err := ReadStatus(w.opts.Status)
	if err != nil || st.Dir != w.opts.Dir {
		st = &Status{Dir: w.opts.Dir, Drops: map[string]*Drop{}}
	}
	d := st.Drops[name]
	if d == nil {
		d = &Drop{}
	}
	dir := filepath.Join(w.opts.Dir, name)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist) || err == nil && !fi.IsDir():
		if d.Tool != "" {
			if err := w.opts.Remove(ctx, d.Tool); err != nil {
				w.log.Warn("tool of a removed drop not removed", "drop", name, "tool", d.Tool, "err", err)
				d.Error, d.Failed = "removing "+d.Tool+": "+err.Error(), time.Now()
				w.save(name, d)
				return
			}
			w.log.Info("tool removed", "drop", name, "tool", d.Tool)
			w.changed()
		}
		w.save(name, nil)
		return
	case err != nil:
		w.fail(name, d, err)
		return
	}
	fp, err := fingerprint(dir)
	if err != nil {
		w.fail(name, d, err)
		return
	}
	if fp == d.Fingerprint && d.Error == "" {
		return // nothing changed since it installed (a restart, a touch)
	}
	tool, err := w.opts.Install(ctx, dir)
	if err != nil {
		w.fail(name, d, err)
		return
	}
	if d.Tool != "" && d.Tool != tool {
		// The drop now holds another tool: the old one came from here.
		if err := w.opts.Remove(ctx, d.Tool); err != nil {
			w.log.Warn("tool replaced in its drop not removed", "drop", name, "tool", d.Tool, "err", err)
		}
	}
	w.log.Info("tool installed", "drop", name, "tool", tool)
	w.save(name, &Drop{Tool: tool, Fingerprint: fp, Installed: time.Now()})
	w.changed()
}

func (w *Watcher) changed() {
	if w.opts.Changed != nil {
		w.opts.Changed()
	}
}

// fail records why a drop did not install; the version installed before
// (if any) stays current.
func (w *Watcher) fail(name string, d *Drop, err error) {
	w.log.Warn("drop not installed; the installed version (if any) still runs", "drop", filepath.Join(w.opts.Dir, name), "err", err)
	d.Error, d.Failed = err.Error(), time.Now()
	w.save(name, d)
}

// save records a drop's status (nil: forget it) under the status file's
// lock: serve and mcp may both watch.
func (w *Watcher) save(name string, d *Drop) {
	l, err := statefile.Lock(w.opts.Status)
	if err != nil {
		w.log.Warn("watch status not saved", "err", err)
		return
	}
	defer l.Release()
	st, err := ReadStatus(w.opts.Status)
	if err != nil || st.Dir != w.opts.Dir {
		st = &Status{Dir: w.opts.Dir, Drops: map[string]*Drop{}}
	}
	if d == nil {
		delete(st.Drops, name)
	} else {
		st.Drops[name] = d
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := statefile.WriteFile(w.opts.Status, b, 0o600); err != nil {
		w.log.Warn("watch status not saved", "err", err)
	}
}

// fingerprint hashes a drop's manifest, the module it names and their
// signatures: the same content is not installed twice (a restart, an
// event that changed nothing).
func fingerprint(dir string) (string, error) {
	m, _, err := manifest.Load(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range []string{manifest.FileName, m.ModuleFile(), manifest.FileName + ".minisig", m.ModuleFile() + ".minisig"} {
		f2, err := statefile.Open(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(f, ".minisig") {
			continue
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00", f)
		_, err = io.Copy(h, io.LimitReader(f2, wasmfile.MaxSize+1))
		f2.Close()
		if err != nil {
			return "", err
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Errors lists the drops whose current content did not install, as lines
// for `agent-ctl list`, sorted.
func (s *Status) Errors() []string {
	var out []string
	for name, d := range s.Drops {
		if d.Error == "" {
			continue
		}
		what := "nothing installed from it"
		if d.Tool != "" {
			what = d.Tool + " keeps its installed version"
		}
		out = append(out, fmt.Sprintf("watch: %s did not install at %s (%s): %s",
			filepath.Join(s.Dir, name), d.Failed.Format(time.RFC3339), what, d.Error))
	}
	slices.Sort(out)
	return out
}
