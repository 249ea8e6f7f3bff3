package main

import (
	"math/rand"
	"testing"
)

// The search core against plain loops. On the host this checks
// simd_other.go; built for wasip1 and linked (make test-wasm), the simd128
// code of simd.wat. Every length up to 200 at every alignment, the byte
// sought at each place, and bytes equal to it right outside the slice,
// which a loop reading past its end (or before its start) would find.

func naiveIndexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func naiveCountByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}

func naiveIndexPair(b []byte, c1 byte, o1 int, c2 byte, o2 int) int {
	for i := 0; i+max(o1, o2) < len(b); i++ {
		if b[i+o1] == c1 && b[i+o2] == c2 {
			return i
		}
	}
	return -1
}

// fenced returns a slice of n bytes of fill at alignment align, with the
// bytes around it set to c: reads out of the slice would see them.
func fenced(align, n int, fill, c byte) []byte {
	buf := make([]byte, 16+align+n+80)
	for i := range buf {
		buf[i] = c
	}
	b := buf[16+align : 16+align+n]
	for i := range b {
		b[i] = fill
	}
	return b
}

func TestSIMD_indexByteCount(t *testing.T) {
	for _, c := range []byte{'\n', 0, 0x80, 0xff} {
		fill := byte('a')
		for align := 0; align < 16; align++ {
			for n := 0; n <= 200; n++ {
				b := fenced(align, n, fill, c)
				if got := indexByte(b, c); got != -1 {
					t.Fatalf("indexByte(%d bytes at %d, none of %#x) = %d, want -1", n, align, c, got)
				}
				if got := countByte(b, c); got != 0 {
					t.Fatalf("countByte(%d bytes at %d, none of %#x) = %d, want 0", n, align, c, got)
				}
				for at := 0; at < n; at++ {
					b[at] = c
					if got := indexByte(b, c); got != at {
						t.Fatalf("indexByte(%d bytes at %d, %#x at %d) = %d", n, align, c, at, got)
					}
					b[at] = fill
				}
				for at := 0; at < n; at++ {
					b[at] = c // c at 0..at
					if got, want := countByte(b, c), at+1; got != want {
						t.Fatalf("countByte(%d bytes at %d, %#x at 0..%d) = %d, want %d", n, align, c, at, got, want)
					}
				}
			}
		}
	}
}

func TestSIMD_indexPair(t *testing.T) {
	const c1, c2 = 'E', 'R'
	for _, o := range [][2]int{{0, 1}, {1, 0}, {0, 4}, {3, 1}, {2, 17}, {40, 0}} {
		o1, o2 := o[0], o[1]
		for align := 0; align < 16; align++ {
			for n := 0; n <= 120; n++ {
				b := fenced(align, n, 'x', 0)
				// Both bytes right outside: a candidate that does not fit must not be found.
				full := b[:cap(b)]
				for i := n; i < len(full); i++ {
					full[i] = c1
					if (i-n)%2 == 1 {
						full[i] = c2
					}
				}
				if got, want := indexPair(b, c1, o1, c2, o2), naiveIndexPair(b, c1, o1, c2, o2); got != want {
					t.Fatalf("indexPair(%d bytes at %d, offsets %d %d, fenced) = %d, want %d", n, align, o1, o2, got, want)
				}
				for at := 0; at+max(o1, o2) < n; at++ {
					b[at+o1], b[at+o2] = c1, c2
					if got := indexPair(b, c1, o1, c2, o2); got != at {
						t.Fatalf("indexPair(%d bytes at %d, offsets %d %d, pair at %d) = %d", n, align, o1, o2, at, got)
					}
					// One byte of the pair alone is no candidate.
					b[at+o2] = 'x'
					if got, want := indexPair(b, c1, o1, c2, o2), naiveIndexPair(b, c1, o1, c2, o2); got != want {
						t.Fatalf("indexPair(%d bytes at %d, offsets %d %d, half a pair at %d) = %d, want %d", n, align, o1, o2, at, got, want)
					}
					b[at+o1] = 'x'
				}
			}
		}
	}
}

// TestSIMD_random compares on random text over a small alphabet (many
// hits and near misses), in longer slices.
func TestSIMD_random(t *testing.T) {
	r := rand.New(rand.NewSource(18))
	alphabet := []byte("ab\nE\x00\xff")
	for round := 0; round < 3000; round++ {
		b := make([]byte, r.Intn(5000))
		k := 1 + r.Intn(len(alphabet))
		for i := range b {
			b[i] = alphabet[r.Intn(k)]
		}
		from := r.Intn(len(b) + 1)
		b = b[from:]
		c, c2 := alphabet[r.Intn(len(alphabet))], alphabet[r.Intn(len(alphabet))]
		o1, o2 := r.Intn(8), r.Intn(8)
		if got, want := indexByte(b, c), naiveIndexByte(b, c); got != want {
			t.Fatalf("round %d: indexByte = %d, want %d", round, got, want)
		}
		if got, want := countByte(b, c), naiveCountByte(b, c); got != want {
			t.Fatalf("round %d: countByte = %d, want %d", round, got, want)
		}
		if got, want := indexPair(b, c, o1, c2, o2), naiveIndexPair(b, c, o1, c2, o2); got != want {
			t.Fatalf("round %d: indexPair(%q@%d %q@%d) = %d, want %d", round, c, o1, c2, o2, got, want)
		}
	}
}
