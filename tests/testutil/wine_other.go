//go:build !windows

package testutil

import "testing"

// WineVersion returns "": only a Windows program can run under Wine.
func WineVersion() string { return "" }

// SkipUnderWine does nothing where there is no Wine to run under.
func SkipUnderWine(testing.TB, string) {}

// TempDir is t.TempDir: only Windows programs under Wine need another.
func TempDir(t testing.TB) string {
	t.Helper()
	return t.TempDir()
}
