// Package wasmfile reads and checks WebAssembly module files before anything
// runs them: a regular file within MaxSize that is a core module (not a
// component). Both the supervisor (before it spawns a worker) and the store
// (before it installs a tool) check modules the same way, and neither links
// a WebAssembly engine for it: this package has no cgo, and imports only
// policies/statefile (to open a file as every host-side read does).
package wasmfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// MaxSize bounds the module files agent-ctl reads.
const MaxSize = 256 << 20

// Errors that Check and CheckFile wrap; classify with errors.Is.
var (
	// ErrNotFound: the module file does not exist.
	ErrNotFound = errors.New("module not found")
	// ErrInvalid: the file is not a runnable WASI preview-1 command module
	// (not wasm, a component, too large; later: does not compile, unknown
	// imports).
	ErrInvalid = errors.New("module invalid")
)

// Check reads and checks the module file at path and returns the hex
// sha256 of its bytes.
func Check(path string) (digest string, err error) {
	f, err := Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	return CheckFile(path, f, fi)
}

// Open opens a module file for reading. Its name is followed, links and
// all: the caller names the module (an installed tool's name is a link in
// the store, which only root writes), and nothing reads it by name after
// this. Anything but a regular file (a named pipe, which would block the
// open until a writer came; a device) is refused at once, as
// statefile.Open refuses it.
func Open(path string) (*os.File, error) {
	f, err := statefile.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	case errors.Is(err, statefile.ErrNotRegular):
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	return f, nil
}

// CheckFile reads and checks the module open as f (fi is its stat; path
// names it in errors) and returns its digest. It reads through a section
// reader, so f's offset is left alone.
func CheckFile(path string, f *os.File, fi os.FileInfo) (digest string, err error) {
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrInvalid, path)
	}
	if fi.Size() > MaxSize {
		return "", fmt.Errorf("%w: %s is %d bytes, above the %d-byte limit", ErrInvalid, path, fi.Size(), MaxSize)
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, MaxSize+1))
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %w", ErrInvalid, path, err)
	}
	if len(b) > MaxSize {
		return "", fmt.Errorf("%w: %s grew above the %d-byte limit while it was read", ErrInvalid, path, MaxSize)
	}
	if err := CheckHeader(b); err != nil {
		return "", fmt.Errorf("%w: %s %w", ErrInvalid, path, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

var magic = []byte("\x00asm")

// CheckHeader checks that b starts as a core WebAssembly module does. Its
// error reads after the file's name ("x.wasm is not a WebAssembly module").
func CheckHeader(b []byte) error {
	if len(b) < 8 || !bytes.Equal(b[:4], magic) {
		return errors.New("is not a WebAssembly module")
	}
	switch {
	case bytes.Equal(b[4:8], []byte{1, 0, 0, 0}):
		return nil
	case b[6] == 1 && b[7] == 0:
		return errors.New("is a WebAssembly component: the component model is not supported; build a core WASI preview-1 module (e.g. --target wasm32-wasip1)")
	}
	return fmt.Errorf("has unsupported WebAssembly binary version %x", b[4:8])
}
