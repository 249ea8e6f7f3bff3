//go:build unix && !(linux && cgo)

package supervisor_test

var rootSideHelpers = map[string]func(string) int{}

// hostileWorker is channel_linux_test.go's; elsewhere no test asks for it.
func hostileWorker([]string) (int, bool) { return 0, false }
