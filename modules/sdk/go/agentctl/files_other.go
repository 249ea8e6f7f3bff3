//go:build !wasip1

package agentctl

// NotGranted is false outside WebAssembly: a native build (the unit tests)
// has no grants.
func NotGranted(err error) bool { return false }
