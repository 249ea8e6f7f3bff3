package isolation

import (
	"fmt"
	"runtime"
)

// allocateInSteps is the helper worker's "alloc" mode on every platform:
// it touches 64 blocks of 16 MiB, one at a time, and prints the MiB held
// after each, so that a test sees how far a memory limit let it go. At
// most 1 GiB, so that a missing limit cannot hurt the host.
func allocateInSteps() {
	var keep [][]byte
	for i := 1; i <= 64; i++ {
		b := make([]byte, 16<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
		fmt.Println(i * 16)
	}
	runtime.KeepAlive(keep) // every block stays allocated until here
	fmt.Println("allocated all")
}
