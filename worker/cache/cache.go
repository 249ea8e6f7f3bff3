// Package cache is the format of agent-ctl's compiled-code cache: the name
// of an entry (Key), and its trailer, written by a worker that compiled a
// module (Write), checked by the worker that loads it (Read) and by the
// supervisor that promotes a worker's output into the cache (Copy, Verify).
//
// It is cgo-free and imports no wasmtime, so that the supervisor can check
// entries without linking the engine: only the worker links wasmtime.
package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// EngineVersion names the wasmtime build whose compiled code the cache
// holds. A test checks it against the module graph, so bumping wasmtime-go
// without bumping this fails loudly instead of loading stale code (which
// wasmtime would refuse anyway).
const EngineVersion = "wasmtime-go/v39@v39.0.1"

// MaxWasmStack is the guest stack size the worker's engine is configured
// with. It is here because it is part of the engine fingerprint: code
// compiled for another stack size must not be loaded.
const MaxWasmStack = 512 << 10

// fingerprint names everything that makes compiled code incompatible.
var fingerprint = fmt.Sprintf("%s;%s/%s;epoch=1;fuel=0;opt=speed;stack=%d",
	EngineVersion, runtime.GOOS, runtime.GOARCH, MaxWasmStack)

// Key returns the file name, inside the cache directory, of the
// precompiled code for a module whose bytes hash to digest (hex sha256).
func Key(digest string) string {
	h := sha256.Sum256([]byte(fingerprint + "\n" + digest))
	return hex.EncodeToString(h[:]) + ".cwasm"
}

// A cache entry is the serialized module followed by a trailer: the sha256
// of the serialized bytes and a magic string. The trailer is checked before
// anything is deserialized, so a truncated or corrupt entry is recompiled,
// never executed.
var cacheMagic = []byte("agent-ctl.cwasm1")

const trailerLen = sha256.Size + 16

// TrailerLen is the length of an entry's trailer.
const TrailerLen = trailerLen

// ErrCorrupt marks an entry whose trailer or checksum is wrong: it is
// recompiled, never executed.
var ErrCorrupt = errors.New("cache entry is corrupt")

// Read returns the verified serialized module in path. A missing entry is
// an error that wraps os.ErrNotExist, not ErrCorrupt.
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < trailerLen || !bytes.Equal(b[len(b)-len(cacheMagic):], cacheMagic) {
		return nil, fmt.Errorf("%w: %s has no valid trailer", ErrCorrupt, filepath.Base(path))
	}
	payload := b[:len(b)-trailerLen]
	sum := sha256.Sum256(payload)
	if !bytes.Equal(sum[:], b[len(payload):len(payload)+sha256.Size]) {
		return nil, fmt.Errorf("%w: %s fails its checksum", ErrCorrupt, filepath.Base(path))
	}
	return payload, nil
}

// Payload returns the length of the serialized module in an entry of size
// bytes whose trailer is in r, checking only the trailer's magic string,
// not the checksum. It is for an entry the supervisor has already verified
// (Verified): the worker then maps or reads the payload without hashing it
// again on every call.
func Payload(r io.ReaderAt, size int64) (int64, error) {
	if size < trailerLen {
		return 0, fmt.Errorf("%w: %d bytes, shorter than its trailer", ErrCorrupt, size)
	}
	magic := make([]byte, len(cacheMagic))
	if _, err := r.ReadAt(magic, size-int64(len(magic))); err != nil {
		return 0, fmt.Errorf("reading trailer: %w", err)
	}
	if !bytes.Equal(magic, cacheMagic) {
		return 0, fmt.Errorf("%w: no valid trailer", ErrCorrupt)
	}
	return size - trailerLen, nil
}

// Verify checks an entry's trailer and checksum without loading
// it; the supervisor uses it before moving a worker's output into the cache.
func Verify(path string) error {
	_, err := Read(path)
	return err
}

// Copy copies an entry of exactly size bytes from src to dst,
// checking its trailer and checksum on the way, in constant memory. The
// supervisor uses it to promote a worker's output: it reads the file once,
// from a descriptor, and what it checked is what it wrote, whatever the
// worker does to the file meanwhile. On error dst holds a partial copy that
// the caller must discard.
func Copy(dst io.Writer, src io.Reader, size int64) error {
	if size < trailerLen {
		return fmt.Errorf("%w: %d bytes, shorter than its trailer", ErrCorrupt, size)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(dst, h), src, size-trailerLen); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: shorter than its %d bytes", ErrCorrupt, size)
		}
		return err
	}
	var trailer [trailerLen]byte
	if _, err := io.ReadFull(src, trailer[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: shorter than its %d bytes", ErrCorrupt, size)
		}
		return err
	}
	if !bytes.Equal(trailer[sha256.Size:], cacheMagic) {
		return fmt.Errorf("%w: no valid trailer", ErrCorrupt)
	}
	if !bytes.Equal(h.Sum(nil), trailer[:sha256.Size]) {
		return fmt.Errorf("%w: fails its checksum", ErrCorrupt)
	}
	_, err := dst.Write(trailer[:])
	return err
}

// Write writes payload and its trailer to path, which must not
// be visible to readers until complete: callers write to a private file and
// rename it into place.
func Write(path string, payload []byte) error {
	sum := sha256.Sum256(payload)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(payload)
	if err == nil {
		_, err = f.Write(sum[:])
	}
	if err == nil {
		_, err = f.Write(cacheMagic)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
