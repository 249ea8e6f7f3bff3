//go:build !unix

package oci

// oNoFollow: O_EXCL already refuses whatever is in the file's place.
const oNoFollow = 0
