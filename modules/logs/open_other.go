//go:build !wasip1

package main

import (
	"io"
	"os"
)

// openFile opens name below root; on the host (the tests), by name.
// Built for wasip1, open_wasip1.go asks agent-ctl's file functions first.
func openFile(root, name string) (io.ReadCloser, error) { return os.Open(join(root, name)) }
