// Package tail keeps the end of a stream: the last bytes that a worker or
// a module wrote, for a message that quotes them. The supervisor keeps a
// worker's own stderr in one (to name why the worker failed) and the MCP
// front-end a failed call's output (to quote it in the error result).
package tail

import (
	"sync"
	"unicode/utf8"
)

// DefaultMax is what a Buffer keeps when its Max is zero.
const DefaultMax = 4 << 10

// Buffer keeps the last Max bytes written to it. It is safe for concurrent
// use, and writing to it never fails. The zero value keeps DefaultMax.
type Buffer struct {
	// Max is how many bytes are kept; zero means DefaultMax.
	Max int

	mu      sync.Mutex
	buf     []byte
	dropped bool // bytes before buf were written and let go
}

func (b *Buffer) max() int {
	if b.Max <= 0 {
		return DefaultMax
	}
	return b.Max
}

// Write keeps the end of p. It trims only once twice Max is held, so a
// stream of small writes costs a copy per Max bytes, not per write.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.max()
	if len(p) >= m {
		b.dropped = b.dropped || len(b.buf) > 0 || len(p) > m
		b.buf = append(b.buf[:0], p[len(p)-m:]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*m {
		b.dropped = true
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-m:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of the last Max bytes written.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf[max(0, len(b.buf)-b.max()):]...)
}

// String returns the last Max bytes written, as text for a person: cut at
// the start of a UTF-8 sequence, and marked with "…" when earlier bytes
// were dropped.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.max()
	if !b.dropped && len(b.buf) <= m {
		return string(b.buf)
	}
	return "…" + runeStart(string(b.buf[max(0, len(b.buf)-m):]))
}

// Last returns the last n bytes of s from the start of a UTF-8 sequence,
// marked with "…" when s was longer.
func Last(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + runeStart(s[len(s)-n:])
}

// runeStart drops the continuation bytes of a UTF-8 sequence cut short at
// the start of s.
func runeStart(s string) string {
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return s
}
