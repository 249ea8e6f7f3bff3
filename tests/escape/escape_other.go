//go:build !amd64

package escape

// Int80 is only on amd64.
func Int80(nr, a1, a2, a3 uintptr) uintptr { panic("escape: no i386 ABI on this architecture") }

// HasInt80 tells whether Int80 exists on this architecture.
const HasInt80 = false
