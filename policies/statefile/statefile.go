// Package statefile keeps agent-ctl's operator state (the policy file, the
// token file, the module store) consistent when several agent-ctl
// processes change it at once: a change reads the state, edits it and
// writes it back under Lock, so no change overwrites another's; and
// WriteFile replaces a file whole, so a reader that takes no lock reads
// either the old file or the new one, never a mix or a torn write.
//
//	l, err := statefile.Lock(path)
//	if err != nil { … }
//	defer l.Release()
//	… read path, change it …
//	err = statefile.WriteFile(path, b, 0o600)
package statefile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Held is a lock taken by Lock. The operating system drops it when the
// process ends, however it ends: a killed agent-ctl leaves no stale lock.
type Held struct{ f *os.File }

// Lock waits for and takes the exclusive lock that guards the state at
// path: an advisory lock (flock on Unix, LockFileEx on Windows) on the
// file path+".lock" beside it, created (0600) if missing. The lock file
// is never removed: removing it would let two processes lock two
// different files. Every holder keeps it for a read, an edit and a write,
// milliseconds; none waits for a person or a worker while holding it.
func Lock(path string) (*Held, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", name, err)
	}
	if err := LockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("taking lock %s: %w", name, err)
	}
	return &Held{f: f}, nil
}

// Release gives the lock up. It is safe to call on a nil *Held and twice.
func (h *Held) Release() {
	if h == nil || h.f == nil {
		return
	}
	// Closing the only descriptor of the open file drops the lock.
	_ = h.f.Close()
	h.f = nil
}

// WriteFile replaces the file at path with data, atomically and durably:
// it writes a temporary file in the same directory, syncs it, renames it
// over path and syncs the directory, so that after a crash path holds the
// old content or the new, and after WriteFile returns the new content
// survives a power loss.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = SyncDir(dir)
	}
	return err
}
