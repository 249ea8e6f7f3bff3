package mcp

import (
	"slices"
	"sync"

	"github.com/agent-ctl/agent-ctl/supervisor/tail"
)

// budget is the module output all calls in flight may hold together.
type budget struct {
	mu              sync.Mutex
	max, used, peak int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

func (b *budget) stats() (now, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// outChunk is the unit in which a call's output is held and counted:
// chunks, not one growing slice, so that holding N bytes costs N (a
// doubling slice costs up to twice that and copies as it grows).
const outChunk = 64 << 10

// outBuf holds a call's stdout within the server's budget. When the
// budget has no room, it drops what it held and keeps only the tail: the
// call fails (an error result quotes only the tail anyway).
type outBuf struct {
	b       *budget
	mu      sync.Mutex
	chunks  [][]byte
	held    int64 // taken from the budget
	n       int64 // bytes written
	spilled bool
	tail    tail.Buffer
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n += int64(len(p))
	if o.spilled {
		return o.tail.Write(p)
	}
	for rest := p; len(rest) > 0; {
		if len(o.chunks) == 0 || len(o.chunks[len(o.chunks)-1]) == outChunk {
			if !o.b.take(outChunk) {
				o.spill(rest)
				return len(p), nil
			}
			o.held += outChunk
			o.chunks = append(o.chunks, (*chunkPool.Get().(*[]byte))[:0])
		}
		last := &o.chunks[len(o.chunks)-1]
		k := min(len(rest), outChunk-len(*last))
		*last = append(*last, rest[:k]...)
		rest = rest[k:]
	}
	return len(p), nil
}

// spill keeps the tail of what is held and of rest, and gives the rest of
// the memory back.
func (o *outBuf) spill(rest []byte) {
	o.spilled = true
	for _, c := range o.chunks[max(0, len(o.chunks)-2):] {
		_, _ = o.tail.Write(c)
	}
	_, _ = o.tail.Write(rest)
	o.release()
}

// release hands the chunks back for other calls' output (a flood would
// otherwise leave garbage faster than the collector frees it) and gives
// the budget back.
func (o *outBuf) release() {
	for _, c := range o.chunks {
		c = c[:0]
		chunkPool.Put(&c)
	}
	o.chunks = nil
	o.b.give(o.held)
	o.held = 0
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, outChunk); return &b }}

// bytes returns the output held, in one slice.
func (o *outBuf) bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := make([]byte, 0, o.n)
	for _, c := range o.chunks {
		b = append(b, c...)
	}
	return b
}

// last returns the last n bytes held (or fewer).
func (o *outBuf) last(n int) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b []byte
	for i := len(o.chunks) - 1; i >= 0 && len(b) < n; i-- {
		b = append(slices.Clone(o.chunks[i]), b...)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b
}

// free gives the memory and the budget back.
func (o *outBuf) free() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.release()
}
