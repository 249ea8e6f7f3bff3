package worker

import (
	"strings"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// The limits of the agent_ctl file functions (docs/host-functions.md).
const (
	// maxFiles caps the files a call has open at once through file_open:
	// a confined worker's RLIMIT_NOFILE is 64 in all, a third of it used
	// before the module runs (stdio, the grants, the runtime's own).
	maxFiles = 16
	// maxPathText caps a file_open path or directory, as PATH_MAX does.
	maxPathText = 4096
	// fileWrite is file_open's flag asking for reading and writing.
	fileWrite = 1
)

// openFile is a file a module opened through file_open.
type openFile struct {
	fd       int
	writable bool
}

// fileTable is the state of the agent_ctl file functions for one call:
// the granted directories, opened by descriptor when first used, and the
// files the module has open. A module reaches through it only what its
// preopened directories already give it through WASI (docs/host-functions.md).
type fileTable struct {
	dirs  []protocol.Dir
	dirFD []int // by index of dirs; -1 until opened
	// ownDir marks the directory descriptors the table opened itself (and
	// closes); the others are the worker's inherited grant descriptors.
	ownDir []bool
	open   map[int32]openFile
	next   int32
}

func newFileTable(dirs []protocol.Dir) *fileTable {
	t := &fileTable{dirs: dirs, dirFD: make([]int, len(dirs)), ownDir: make([]bool, len(dirs)), open: map[int32]openFile{}}
	for i := range t.dirFD {
		t.dirFD[i] = -1
	}
	return t
}

// cleanRelative checks a path below a granted directory: relative, at most
// maxPathText bytes, no NUL and no ".." component. It returns the path's
// components without "." and empty ones. The host never joins it to a
// host path: it is resolved one component at a time below the grant's
// descriptor.
func cleanRelative(p string) ([]string, protocol.Errno) {
	if p == "" || len(p) > maxPathText || strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		return nil, protocol.Invalid
	}
	var parts []string
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
		case "..":
			return nil, protocol.Invalid
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return nil, protocol.NotFile // the granted directory itself
	}
	return parts, protocol.OK
}

// grant returns the index of the directory granted at guest path dir, or -1.
// Only an exact match counts: the module names the grant, then a path
// below it.
func (t *fileTable) grant(dir string) int {
	dir = strings.TrimSuffix(dir, "/")
	for i, d := range t.dirs {
		if strings.TrimSuffix(d.Guest, "/") == dir {
			return i
		}
	}
	return -1
}

// openAt opens path below the directory granted at guest path dir.
func (t *fileTable) openAt(dir, path string, flags int32) (int32, protocol.Errno) {
	if len(dir) == 0 || len(dir) > maxPathText || flags&^fileWrite != 0 {
		return 0, protocol.Invalid
	}
	parts, e := cleanRelative(path)
	if e != protocol.OK {
		return 0, e
	}
	i := t.grant(dir)
	if i < 0 {
		return 0, protocol.Denied
	}
	write := flags&fileWrite != 0
	if write && !t.dirs[i].Writable {
		return 0, protocol.Denied
	}
	if len(t.open) >= maxFiles {
		return 0, protocol.Limit
	}
	if t.dirFD[i] < 0 {
		fd, own, e := openGrant(t.dirs[i])
		if e != protocol.OK {
			return 0, e
		}
		t.dirFD[i], t.ownDir[i] = fd, own
	}
	fd, e := openBeneath(t.dirFD[i], parts, write)
	if e != protocol.OK {
		return 0, e
	}
	t.next++
	t.open[t.next] = openFile{fd: fd, writable: write}
	return t.next, protocol.OK
}

func (t *fileTable) close(h int32) protocol.Errno {
	f, ok := t.open[h]
	if !ok {
		return protocol.BadHandle
	}
	delete(t.open, h)
	closeFD(f.fd)
	return protocol.OK
}

// closeAll closes every file the call left open and the directory
// descriptors the table opened: the end of a call.
func (t *fileTable) closeAll() {
	for h, f := range t.open {
		closeFD(f.fd)
		delete(t.open, h)
	}
	for i, fd := range t.dirFD {
		if fd >= 0 && t.ownDir[i] {
			closeFD(fd)
		}
		t.dirFD[i] = -1
	}
}

// defineFileFuncs links the agent_ctl file functions to the table current
// returns while a call runs (nil outside a call: DENIED).
func defineFileFuncs(linker *wasmtime.Linker, current func() *fileTable) error {
	errno := func(e protocol.Errno) int32 { return int32(e) }
	// transfer serves file_read and file_write: the module's memory is
	// the buffer, read or written by the kernel on this thread.
	transfer := func(c *wasmtime.Caller, h, buf, n, out int32, write bool) int32 {
		m, ok := memoryOf(c)
		if !ok || n < 0 {
			return errno(protocol.Invalid)
		}
		p, ok := m.slice(buf, n)
		if _, okOut := m.slice(out, 4); !ok || !okOut {
			return errno(protocol.Invalid)
		}
		t := current()
		if t == nil {
			return errno(protocol.BadHandle)
		}
		f, ok := t.open[h]
		if !ok {
			return errno(protocol.BadHandle)
		}
		if write && !f.writable {
			return errno(protocol.Denied)
		}
		done, e := transferFD(f.fd, p, write)
		if e == protocol.OK {
			// Memory cannot have moved: the module is paused in this call.
			m.putU32(out, uint32(done))
		}
		return errno(e)
	}
	defs := map[string]any{
		"file_open": func(c *wasmtime.Caller, dirPtr, dirLen, pathPtr, pathLen, flags, out int32) int32 {
			m, ok := memoryOf(c)
			if !ok || dirLen <= 0 || dirLen > maxPathText || pathLen <= 0 || pathLen > maxPathText {
				return errno(protocol.Invalid)
			}
			dir, okDir := m.slice(dirPtr, dirLen)
			path, okPath := m.slice(pathPtr, pathLen)
			if _, okOut := m.slice(out, 4); !okDir || !okPath || !okOut {
				return errno(protocol.Invalid)
			}
			t := current()
			if t == nil {
				return errno(protocol.Denied)
			}
			h, e := t.openAt(string(dir), string(path), flags)
			if e == protocol.OK {
				m.putU32(out, uint32(h))
			}
			return errno(e)
		},
		"file_read": func(c *wasmtime.Caller, h, buf, n, out int32) int32 {
			return transfer(c, h, buf, n, out, false)
		},
		"file_write": func(c *wasmtime.Caller, h, buf, n, out int32) int32 {
			return transfer(c, h, buf, n, out, true)
		},
		"file_close": func(h int32) int32 {
			t := current()
			if t == nil {
				return errno(protocol.BadHandle)
			}
			return errno(t.close(h))
		},
	}
	for name, fn := range defs {
		if err := linker.FuncWrap(hostModule, name, fn); err != nil {
			return err
		}
	}
	return nil
}
