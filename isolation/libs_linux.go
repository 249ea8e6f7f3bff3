//go:build linux && cgo

package isolation

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// multiarch is Debian's library directory name for this architecture.
var multiarch = map[string]string{
	"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "riscv64": "riscv64-linux-gnu",
	"ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu", "386": "i386-linux-gnu", "arm": "arm-linux-gnueabihf",
}

// librarySearchPath is where the dynamic loader looks without
// /etc/ld.so.cache (which the worker does not get): its built-in directories.
func librarySearchPath() []string {
	var dirs []string
	if t := multiarch[runtime.GOARCH]; t != "" {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// elfLibraryDirs returns the directories holding exe's ELF interpreter and
// every shared library it needs, directly or through another library; none
// for a static executable. Libraries are looked up by name in the system
// directories, as the loader does without its cache; RPATH and RUNPATH are
// not followed.
func elfLibraryDirs(exe string) ([]string, error) {
	interp, needed, err := elfDeps(exe)
	if err != nil {
		return nil, err
	}
	if interp == "" && len(needed) == 0 {
		return nil, nil
	}
	var dirs []string
	add := func(d string) {
		for _, x := range dirs {
			if x == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	if interp != "" {
		add(filepath.Dir(interp))
	}
	search := librarySearchPath()
	done := map[string]bool{}
	for len(needed) > 0 {
		lib := needed[0]
		needed = needed[1:]
		if done[lib] {
			continue
		}
		done[lib] = true
		found := ""
		for _, d := range search {
			if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
				found = filepath.Join(d, lib)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("worker executable %s: shared library %s not found in %s", exe, lib, strings.Join(search, ", "))
		}
		add(filepath.Dir(found))
		_, more, err := elfDeps(found)
		if err != nil {
			return nil, err
		}
		needed = append(needed, more...)
	}
	return dirs, nil
}

// elfDeps reads an ELF file's interpreter and DT_NEEDED entries.
func elfDeps(path string) (interp string, needed []string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading ELF file %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", nil, fmt.Errorf("reading ELF interpreter of %s: %w", path, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return "", nil, fmt.Errorf("reading shared libraries of %s: %w", path, err)
	}
	return interp, needed, nil
}
