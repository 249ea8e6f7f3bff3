package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// compiledName is the file a compiling worker writes in its call directory
// (protocol.Request.CompileOut).
const compiledName = "compiled.cwasm"

// The compiled code promoted for a module of n bytes is at most
// compiledFactor*n + compiledSlack bytes. Cranelift's output for the
// modules of this repository is 3.1 to 5.8 times the module's size, plus
// about 13 KiB of fixed sections that dominate for tiny modules (a 78-byte
// module compiles to 13.8 KiB); see docs/run.md. Anything bigger did not
// come from an honest compile: it is refused, and the call only loses the
// cache entry.
const (
	compiledFactor = 16
	compiledSlack  = 1 << 20
)

// compiledLimit bounds the compiled code promoted for a module of size
// bytes.
func compiledLimit(size int64) int64 {
	return compiledFactor*min(max(size, 0), MaxModuleSize) + compiledSlack
}

// promoteTempPrefix names the files being written into the cache; a
// supervisor killed mid-copy leaves one, which the next one sweeps.
const promoteTempPrefix = ".promote-"

// promote copies the code a worker compiled into the cache, after checking
// it; workerProblem is why the worker could not write it, if it could not.
// Failing costs only speed: it is logged, the call goes on, and Precompile
// reports it.
func (s *Supervisor) promote(t *template, callDir, workerProblem string) error {
	var err error
	if workerProblem != "" {
		err = fmt.Errorf("writing compiled code: %s", workerProblem)
	} else {
		var size int64
		if fi, serr := os.Stat(t.req.ModulePath); serr == nil {
			size = fi.Size()
		}
		err = promoteCompiled(callDir, t.req.CacheFile, compiledLimit(size))
	}
	if err != nil {
		s.log.Warn("compiled code not cached", "module", t.name, "error", err)
	}
	return err
}

// promoteCompiled copies the compiled code in callDir into the cache file,
// if it is a sound entry of at most limit bytes.
//
// The worker that wrote the file shares the call directory and may have
// been taken over while it compiled: the file may be a symbolic link (to
// /dev/zero, or to a file it wants promoted), a FIFO, a device, a
// directory, a hard link or a huge file, and the worker is still running
// and may change it while the supervisor reads. So the file is opened once,
// relative to a descriptor of the call directory and without following
// links (openCompiled), and must be a regular file with a single link and a
// bounded size. It is then read once, from that descriptor, and copied into
// a new file of the supervisor's own in the cache directory while its
// trailer and checksum are checked (cache.Copy); that copy is
// synced and linked into place. A copy rather than a link (linkat through
// /proc/self/fd): the cache entry is then the supervisor's file, owned by
// it, holding exactly the bytes it checked, not an inode the worker can
// still write through a descriptor it kept. It costs one read and one write
// of the code, once per compile, which takes seconds anyway.
func promoteCompiled(callDir, cacheFile string, limit int64) error {
	f, size, err := openCompiled(callDir)
	if err != nil {
		return err
	}
	defer f.Close()
	if size > limit {
		return fmt.Errorf("refusing %s: %d bytes, above the %d-byte bound for this module", compiledName, size, limit)
	}
	// A good entry that another call put there meanwhile stays: calls
	// started since may be about to mount it, and a container mounts the
	// file, not the name, so replacing it would pull it from under them.
	if cache.Verify(cacheFile) == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(cacheFile), fmt.Sprintf("%s%d-*", promoteTempPrefix, os.Getpid()))
	if err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	defer os.Remove(tmp.Name()) // the entry is linked or renamed by then
	err = cache.Copy(tmp, f, size)
	if err != nil {
		err = fmt.Errorf("refusing %s: %w", compiledName, err)
	}
	if err == nil {
		if err = tmp.Sync(); err != nil {
			err = fmt.Errorf("writing cache entry: %w", err)
		}
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing cache entry: %w", cerr)
	}
	if err != nil {
		return err
	}
	// Into place without replacing an entry that another compile put there
	// since the check above: a call starting now may have opened that file
	// to mount it, and a container cannot mount a file that was replaced
	// (unlinked) after it was opened. Only a corrupt entry is replaced.
	err = os.Link(tmp.Name(), cacheFile)
	if errors.Is(err, os.ErrExist) {
		if cache.Verify(cacheFile) == nil {
			return nil
		}
		err = os.Rename(tmp.Name(), cacheFile)
	}
	if err != nil {
		return fmt.Errorf("moving cache entry into place: %w", err)
	}
	return nil
}

// sweepPromoteTemps removes the partial cache entries of supervisors that
// died while copying one.
func sweepPromoteTemps(cacheDir string) {
	files, _ := filepath.Glob(filepath.Join(cacheDir, promoteTempPrefix+"*-*"))
	for _, f := range files {
		var pid int
		rest := strings.TrimPrefix(filepath.Base(f), promoteTempPrefix)
		if _, err := fmt.Sscanf(rest, "%d-", &pid); err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if !processExists(pid) {
			_ = os.Remove(f)
		}
	}
}

// errNotRegular is returned for a compile output that is not a plain file.
var errNotRegular = errors.New("not a regular file with a single link")
