package supervisor

import (
	"fmt"
	"os"
	"sync"

	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
)

// digestCache remembers the checked digest of each module file by the
// file's identity (device, inode, size, modification and change times), so
// that a call of an unchanged module does not read and hash it again (a Go
// module is megabytes). Any change to the file changes its identity; where
// the platform gives no identity, every call reads the file.
type digestCache struct {
	mu sync.Mutex
	m  map[string]digestEntry
}

type digestEntry struct {
	id     fileID
	digest string
}

// maxDigests bounds the cache; past it, it starts again empty.
const maxDigests = 4096

// open opens the module file once and returns it with the digest of its
// bytes: what was checked is the open file, which the worker is given
// (mounted from it, or inherited), never the name again.
func (c *digestCache) open(path string) (*os.File, string, error) {
	f, err := wasmfile.Open(path)
	if err != nil {
		return nil, "", err
	}
	digest, err := c.digest(path, f)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	return f, digest, nil
}

// digest returns the digest of module file f (opened from path, its key),
// from the cache when its identity has not changed.
func (c *digestCache) digest(path string, f *os.File) (string, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrModuleInvalid, path, err)
	}
	id, ok := identity(fi)
	if ok {
		c.mu.Lock()
		e, hit := c.m[path]
		c.mu.Unlock()
		if hit && e.id == id {
			return e.digest, nil
		}
	}
	digest, err := wasmfile.CheckFile(path, f, fi)
	if err != nil || !ok {
		return digest, err
	}
	// Stat again: the file must not have changed while it was read.
	if fi2, err := f.Stat(); err == nil {
		if id2, ok2 := identity(fi2); ok2 && id2 == id {
			c.mu.Lock()
			if c.m == nil || len(c.m) >= maxDigests {
				c.m = map[string]digestEntry{}
			}
			c.m[path] = digestEntry{id: id, digest: digest}
			c.mu.Unlock()
		}
	}
	return digest, nil
}
