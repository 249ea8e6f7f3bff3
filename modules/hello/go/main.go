// hello: greets someone; the Go build of hello.c (same arguments, output and exit codes).
// Built with GOOS=wasip1 GOARCH=wasm: see ../Makefile.
package main

import (
	"fmt"
	"os"
)

func main() {
	name, shout := "world", false
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--name" && i+1 < len(args):
			i++
			name = args[i]
		case args[i] == "--shout":
			shout = true
		default:
			fmt.Fprintf(os.Stderr, "hello: unknown argument %s\n", args[i])
			os.Exit(2)
		}
	}
	// As hello.c: the greeting is cut to 255 bytes and only ASCII letters are uppercased.
	// Bytes, not runes, so that arguments that are not UTF-8 pass through untouched.
	line := []byte("hello, " + name)
	if len(line) > 255 {
		line = line[:255]
	}
	if shout {
		for i, c := range line {
			if 'a' <= c && c <= 'z' {
				line[i] = c - 'a' + 'A'
			}
		}
	}
	os.Stdout.Write(append(line, '\n'))
}
