package store

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// Limits on a module archive, which is as untrusted as the module in it.
const (
	maxArchiveEntries = 64
	maxArchiveBytes   = 300 << 20 // unpacked, all entries together
	maxArchiveDepth   = 4
)

// isArchive reports whether src names a .tar.gz module archive.
func isArchive(src string) bool {
	return strings.HasSuffix(src, ".tar.gz") || strings.HasSuffix(src, ".tgz")
}

// unpack extracts a module archive into a new directory under into and
// returns the module directory inside it: the archive's root, or its one
// top-level directory. Only regular files and directories with clean
// relative names are accepted; anything else (links, devices, "..",
// absolute names) refuses the whole archive.
func unpack(src, into string) (root, moduleDir string, err error) {
	f, err := statefile.Open(src)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", "", fmt.Errorf("reading archive %s: %w", filepath.Base(src), err)
	}
	tmp, err := os.MkdirTemp(into, ".unpack-")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root = tmp
	tr := tar.NewReader(gz)
	var total int64
	tops := map[string]bool{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", fmt.Errorf("reading archive %s: %w", filepath.Base(src), err)
		}
		if n >= maxArchiveEntries {
			return "", "", fmt.Errorf("archive %s has more than %d entries", filepath.Base(src), maxArchiveEntries)
		}
		name := strings.TrimPrefix(h.Name, "./")
		clean := path.Clean(name)
		if name == "" || clean == "." && h.Typeflag == tar.TypeDir {
			continue
		}
		if path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\x00") ||
			strings.Count(clean, "/") >= maxArchiveDepth {
			return "", "", fmt.Errorf("archive %s: entry %q is not a plain relative path", filepath.Base(src), h.Name)
		}
		tops[strings.SplitN(clean, "/", 2)[0]] = true
		dst := filepath.Join(root, filepath.FromSlash(clean))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return "", "", err
			}
		case tar.TypeReg:
			total += h.Size
			if h.Size < 0 || total > maxArchiveBytes {
				return "", "", fmt.Errorf("archive %s unpacks to more than %d bytes", filepath.Base(src), int64(maxArchiveBytes))
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return "", "", err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return "", "", fmt.Errorf("archive %s: entry %q: %w", filepath.Base(src), h.Name, err)
			}
			// The header's size is checked against the limit above; the copy
			// stops there too, whatever the stream holds.
			_, err = io.Copy(out, io.LimitReader(tr, h.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", "", err
			}
		default:
			return "", "", fmt.Errorf("archive %s: entry %q is not a regular file or directory", filepath.Base(src), h.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, manifest.FileName)); err == nil {
		return root, root, nil
	}
	if len(tops) == 1 {
		for top := range tops {
			if _, err := os.Stat(filepath.Join(root, top, manifest.FileName)); err == nil {
				return root, filepath.Join(root, top), nil
			}
		}
	}
	return "", "", fmt.Errorf("archive %s has no %s at its root or in its one top-level directory", filepath.Base(src), manifest.FileName)
}
