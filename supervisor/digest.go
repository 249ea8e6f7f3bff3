package supervisor

import (
	"os"
	"sync"
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

func (c *digestCache) load(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return loadModule(path) // which says what is wrong
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
	digest, err := loadModule(path)
	if err != nil || !ok {
		return digest, err
	}
	// Stat again: the file must not have changed while it was read.
	if fi2, err := os.Stat(path); err == nil {
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
