// Package escape holds the pieces of the isolation tests' escape kit that
// Go cannot express: system calls through another ABI than the process's
// own. Test-only.
package escape

// X32Bit marks a system call number as one of the x32 ABI's
// (__X32_SYSCALL_BIT): the same syscall instruction, another table.
const X32Bit = 0x40000000
