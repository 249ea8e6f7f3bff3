//go:build !unix

package cache

import "os"

// Identity names a file's identity; there is none on this platform.
func Identity(os.FileInfo) string { return "" }
