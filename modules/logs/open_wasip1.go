//go:build wasip1

package main

import (
	"errors"
	"io"
	"os"
	"strconv"
	"unsafe"
)

// agent-ctl's file functions (docs/host-functions.md): the host reads a
// granted file straight into this module's memory with one read(2) on the
// calling thread, where WASI's fd_read hands each read to another thread
// and copies it twice. The host resolves the path below its descriptor of
// the grant and never follows a link; a path it refuses (a link, /logs not
// granted at exactly that name, a host without the functions) is opened
// through WASI as before, which gives the usual errors.

//go:wasmimport agent_ctl file_open
//go:noescape
func hostFileOpen(dir unsafe.Pointer, dirLen int32, path unsafe.Pointer, pathLen, flags int32, handle unsafe.Pointer) int32

//go:wasmimport agent_ctl file_read
//go:noescape
func hostFileRead(h int32, buf unsafe.Pointer, n int32, got unsafe.Pointer) int32

//go:wasmimport agent_ctl file_close
func hostFileClose(h int32) int32

// openFile opens name below root: through the host's file functions, or
// through WASI when the host refuses.
func openFile(root, name string) (io.ReadCloser, error) {
	if f := openHost(root, name); f != nil {
		return f, nil
	}
	return os.Open(join(root, name))
}

// openHost returns the file opened by the host, or nil.
func openHost(root, name string) *hostFile {
	if root == "" || name == "" {
		return nil
	}
	var h uint32
	if hostFileOpen(unsafe.Pointer(unsafe.StringData(root)), int32(len(root)),
		unsafe.Pointer(unsafe.StringData(name)), int32(len(name)), 0, unsafe.Pointer(&h)) != 0 {
		return nil
	}
	return &hostFile{h: int32(h)}
}

// hostFile is a file the host opened for reading.
type hostFile struct{ h int32 }

// maxRead bounds one read (the host takes an i32 length).
const maxRead = 1 << 30

func (f *hostFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(len(p), maxRead)]
	var n uint32
	if e := hostFileRead(f.h, unsafe.Pointer(unsafe.SliceData(p)), int32(len(p)), unsafe.Pointer(&n)); e != 0 {
		return 0, errors.New("read error (agent_ctl errno " + strconv.Itoa(int(e)) + ")")
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

func (f *hostFile) Close() error {
	if e := hostFileClose(f.h); e != 0 {
		return errors.New("close error (agent_ctl errno " + strconv.Itoa(int(e)) + ")")
	}
	return nil
}
