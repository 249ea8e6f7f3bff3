// gopanic: a Go program that panics (an index out of range) after printing
// one line: Go prints `panic: runtime error: …` and a goroutine trace on
// stderr, then exits 2. Built by `make` with GOOS=wasip1.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("indexing")
	xs := []int{1, 2, 3}
	fmt.Println(xs[len(os.Args)+2])
}
