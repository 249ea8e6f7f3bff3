//go:build !linux

package isolation

// onSpawnThread runs f; only Linux ties parent-death signals to threads.
func onSpawnThread(f func()) { f() }
