package store

// IsArchive reports whether src names a module archive (.tar.gz or .tgz),
// which Install unpacks before it checks the module directory inside.
func IsArchive(src string) bool { return isArchive(src) }

// Unpack extracts the module archive src into a new directory under into,
// with Install's checks and limits, and returns that directory (root, for
// the caller to remove) and the module directory inside it: for a caller
// that must look at the module directory (its signatures) before it
// installs it.
func Unpack(src, into string) (root, dir string, err error) { return unpack(src, into) }
