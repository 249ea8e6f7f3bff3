package main

import "io"

func moduleStdin(r io.Reader) io.Reader { return r }
