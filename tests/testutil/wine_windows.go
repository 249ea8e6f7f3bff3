package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// WineVersion returns the version of Wine this process runs under (such
// as "8.0"), or "" on Windows itself. Wine says so through an export of
// its ntdll that Windows' has not: wine_get_version.
func WineVersion() string {
	p := windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")
	if p.Find() != nil {
		return ""
	}
	r, _, _ := p.Call()
	if r == 0 {
		return "unknown"
	}
	// A static string of Wine's ntdll, outside Go's heap: reading it
	// through the returned address is safe (and written so for vet).
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r)))
}

// SkipUnderWine skips the test when it runs under Wine, naming what Wine
// does not implement (missing), so that the skip says why: the test needs
// Windows itself.
func SkipUnderWine(t testing.TB, missing string) {
	t.Helper()
	if v := WineVersion(); v != "" {
		t.Skipf("Wine %s does not implement %s: this test needs Windows itself", v, missing)
	}
}

// TempDir is t.TempDir, except under Wine (8.0), which does not implement
// the FileDispositionInformationEx deletion that Go's os.RemoveAll uses
// on Windows ("unlinkat …: Invalid function"): there the directory is
// removed one name at a time with os.Remove (DeleteFile), deepest first.
func TempDir(t testing.TB) string {
	t.Helper()
	if WineVersion() == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "agent-ctl-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var names []string
		_ = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
			names = append(names, path)
			return nil
		})
		slices.Reverse(names) // a directory's entries before the directory
		for _, name := range names {
			if err := os.Remove(name); err != nil {
				t.Errorf("removing the test's directory: %v", err)
				return
			}
		}
	})
	return dir
}
