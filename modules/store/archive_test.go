package store_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

type entry struct {
	name string
	typ  byte
	body string
	size int64 // header size when not len(body)
}

func archive(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeSymlink {
			h.Linkname, h.Size = e.body, 0
		}
		if e.typ == tar.TypeDir {
			h.Size = 0
		}
		if e.size != 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 && e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "module.tar.gz")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestInstallArchive(t *testing.T) {
	wasm, _ := os.ReadFile(fixtures.Path("hello.wasm"))
	manifest := strings.Replace(manifestJSON, "%s", "1.0.0", 1)
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string // "" installs
	}{
		{"flat", []entry{{name: "manifest.json", typ: tar.TypeReg, body: manifest}, {name: "m.wasm", typ: tar.TypeReg, body: string(wasm)}}, ""},
		{"one top dir", []entry{{name: "greet/", typ: tar.TypeDir}, {name: "greet/manifest.json", typ: tar.TypeReg, body: manifest},
			{name: "greet/m.wasm", typ: tar.TypeReg, body: string(wasm)}}, ""},
		{"dotdot", []entry{{name: "../evil", typ: tar.TypeReg, body: "x"}}, "not a plain relative path"},
		{"nested dotdot", []entry{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}, "not a plain relative path"},
		{"absolute", []entry{{name: "/etc/evil", typ: tar.TypeReg, body: "x"}}, "not a plain relative path"},
		{"symlink", []entry{{name: "manifest.json", typ: tar.TypeSymlink, body: "/etc/passwd"}}, "not a regular file or directory"},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, "not a regular file or directory"},
		{"too deep", []entry{{name: "a/b/c/d/e/f", typ: tar.TypeReg, body: "x"}}, "not a plain relative path"},
		{"no manifest", []entry{{name: "m.wasm", typ: tar.TypeReg, body: string(wasm)}}, "no manifest.json"},
		{"bomb", []entry{{name: "big", typ: tar.TypeReg, size: 1 << 40}}, "unpacks to more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := store.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			tool, err := s.Install(archive(t, tc.entries))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("install: %v", err)
			case tc.want == "" && tool.Manifest().Version != "1.0.0":
				t.Fatalf("installed %v", tool.Manifest())
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".unpack-*"))
			if len(left) != 0 {
				t.Errorf("unpacked files left behind: %v", left)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Errorf("an entry escaped the store")
			}
		})
	}
	many := []entry{}
	for i := range 70 {
		many = append(many, entry{name: "f" + strings.Repeat("x", i), typ: tar.TypeReg, body: "x"})
	}
	s := openStore(t)
	if _, err := s.Install(archive(t, many)); err == nil || !strings.Contains(err.Error(), "more than 64 entries") {
		t.Errorf("70 entries: %v", err)
	}
	notgz := filepath.Join(t.TempDir(), "x.tar.gz")
	os.WriteFile(notgz, []byte("plain text"), 0o644)
	if _, err := s.Install(notgz); err == nil || !strings.Contains(err.Error(), "reading archive") {
		t.Errorf("not gzip: %v", err)
	}
}
