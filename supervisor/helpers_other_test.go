//go:build !(linux && cgo)

package supervisor_test

var rootSideHelpers = map[string]func(string) int{}
