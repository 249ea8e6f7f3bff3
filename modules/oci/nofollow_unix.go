//go:build unix

package oci

import "syscall"

// oNoFollow makes creating a fetched file fail on a link in its place.
const oNoFollow = syscall.O_NOFOLLOW
