//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// entryCache remembers the cache entries this supervisor has verified (the
// trailer and the SHA-256 of the whole compiled code), by file identity
// (device, inode, size, modification and change times), as digestCache does
// for modules: a worker is then handed the verified file itself and loads
// it without copying and hashing it on every call (docs/performance.md,
// issue 18). Any write to the file changes its identity and the next call
// verifies it again.
type entryCache struct {
	mu sync.Mutex
	m  map[string]fileID
	// hashed counts the entries read and hashed, for the tests.
	hashed int
}

// racyWindow is how recently changed an entry may be and still have its
// verification remembered: well above any file system's time granularity.
// A variable for the tests only.
var racyWindow = 2 * time.Second

// changeTime is the inode change time of fi.
func changeTime(fi os.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Now()
	}
	return time.Unix(0, st.Ctim.Nano())
}

// errEntryNotOurs is why an entry is not handed over as verified: it is not
// a regular file with one link, owned by this process's user and writable
// by no one else.
var errEntryNotOurs = errors.New("not a regular file with one link, owned by the supervisor's user and writable only by it")

// open opens the cache entry at path and verifies it, or finds it verified
// by an earlier call while its identity has not changed. What it returns is
// the open file that was checked: the worker is given that descriptor, or
// a mount made from it, never the name again. A missing entry is an error
// wrapping os.ErrNotExist; an entry that cannot be vouched for is an error
// too, and the caller then leaves the checking to the worker, as before.
func (c *entryCache) open(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := c.check(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	id, _ := identity(fi)
	c.mu.Lock()
	known, hit := c.m[path]
	c.mu.Unlock()
	if hit && known == id {
		return f, nil
	}
	c.mu.Lock()
	c.hashed++
	c.mu.Unlock()
	if err := cache.Copy(io.Discard, io.NewSectionReader(f, 0, fi.Size()), fi.Size()); err != nil {
		f.Close()
		return nil, fmt.Errorf("verifying cache entry: %w", err)
	}
	// Stat again: the file must not have changed while it was read.
	fi2, err := c.check(f)
	if id2, _ := identity(fi2); err != nil || id2 != id {
		f.Close()
		return nil, fmt.Errorf("verifying cache entry: %s changed while it was read", path)
	}
	// File times tick with the kernel's coarse clock (a jiffy, up to
	// 4 ms): a file changed again within the tick it was last changed in
	// keeps its identity. So an entry changed that recently is verified
	// but not remembered, and the next call verifies it again (git's
	// "racy" index entries, the same way).
	if time.Since(fi.ModTime()) < racyWindow || time.Since(changeTime(fi2)) < racyWindow {
		return f, nil
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDigests {
		c.m = map[string]fileID{}
	}
	c.m[path] = id
	c.mu.Unlock()
	return f, nil
}

// check returns f's metadata if it may be handed to a worker as verified:
// a regular file with one link (no other name through which it is
// changed), owned by this process's user, writable by neither group nor
// others. Workers run as another user (container isolation) and see the
// entry read-only; see docs/why.md.
func (c *entryCache) check(f *os.File) (os.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checking cache entry: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil || !fi.Mode().IsRegular() || st.Nlink != 1 || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("refusing cache entry %s: %w", fi.Name(), errEntryNotOurs)
	}
	return fi, nil
}
