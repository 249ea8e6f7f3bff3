package escape

// Int80 makes system call nr of the i386 ABI (int $0x80) with three
// arguments and returns what the kernel put in eax.
func Int80(nr, a1, a2, a3 uintptr) uintptr

// HasInt80 tells whether Int80 exists on this architecture.
const HasInt80 = true
