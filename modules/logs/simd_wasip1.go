//go:build wasip1

package main

import "unsafe"

// The search loops of simd.wat (wasm simd128), linked into logs.wasm by
// link.sh in place of these imports. Pointers into Go memory are safe to
// pass: Go's garbage collector does not move objects, and the functions
// keep nothing once they return.

//go:wasmimport logs_simd index_byte
//go:noescape
func simdIndexByte(p unsafe.Pointer, n, c int32) int32

//go:wasmimport logs_simd count_byte
//go:noescape
func simdCountByte(p unsafe.Pointer, n, c int32) int32

//go:wasmimport logs_simd index_pair
//go:noescape
func simdIndexPair(p unsafe.Pointer, n, c1, o1, c2, o2 int32) int32

// indexByte is bytes.IndexByte, 16 bytes per instruction.
func indexByte(b []byte, c byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(simdIndexByte(unsafe.Pointer(unsafe.SliceData(b)), int32(len(b)), int32(c)))
}

// countByte is bytes.Count of one byte.
func countByte(b []byte, c byte) int {
	if len(b) == 0 {
		return 0
	}
	return int(simdCountByte(unsafe.Pointer(unsafe.SliceData(b)), int32(len(b)), int32(c)))
}

// indexPair returns the first i with b[i+o1] == c1 and b[i+o2] == c2, or
// -1; i+max(o1, o2) stays inside b.
func indexPair(b []byte, c1 byte, o1 int, c2 byte, o2 int) int {
	n := len(b) - max(o1, o2)
	if n <= 0 {
		return -1
	}
	return int(simdIndexPair(unsafe.Pointer(unsafe.SliceData(b)), int32(n), int32(c1), int32(o1), int32(c2), int32(o2)))
}
