//go:build !wasip1

package main

import "bytes"

// The same as simd_wasip1.go in plain Go, for the tests on the host.

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

func countByte(b []byte, c byte) int { return bytes.Count(b, []byte{c}) }

func indexPair(b []byte, c1 byte, o1 int, c2 byte, o2 int) int {
	for i := 0; i+max(o1, o2) < len(b); i++ {
		if b[i+o1] == c1 && b[i+o2] == c2 {
			return i
		}
	}
	return -1
}
