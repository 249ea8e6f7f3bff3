//go:build linux && cgo

package jail

// The constructor is in jail_linux.c; importing "C" makes cgo build it.

import "C"
