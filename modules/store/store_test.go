package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

const manifestJSON = `{"name":"greet","version":"%s","description":"greets","module":"m.wasm","inputSchema":{"type":"object"}}`

// moduleDir writes a module directory with the hello fixture as its wasm.
func moduleDir(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "m.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(strings.Replace(manifestJSON, "%s", version, 1)), 0o644)
	return dir
}

func TestInstallReplaceRemove(t *testing.T) {
	s := openStore(t)
	t1, err := s.Install(moduleDir(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if t1.Name() != "greet" || t1.Manifest().Version != "1.0.0" || len(t1.Digest) != 64 {
		t.Fatalf("installed %+v", t1)
	}
	t2, err := s.Install(moduleDir(t, "1.1.0"))
	if err != nil || t2.Manifest().Version != "1.1.0" {
		t.Fatalf("replace: %v", err)
	}
	// The old version stays a while for calls that resolved it just before
	// the swap, then goes at a later install once past those kept.
	if _, err := os.Stat(t1.Dir); err != nil {
		t.Errorf("old version directory removed at once: %v", err)
	}
	past := time.Now().Add(-2 * time.Minute)
	os.Chtimes(t1.Dir, past, past)
	if _, _, err := s.InstallWith(moduleDir(t, "1.1.0"), &store.InstallOptions{Keep: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(t1.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("retired version %s not collected (%v)", t1.Dir, err)
	}
	if err := s.Remove("greet"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("greet"); !errors.Is(err, store.ErrNotInstalled) {
		t.Errorf("after remove: %v", err)
	}
	if err := s.Remove("greet"); !errors.Is(err, store.ErrNotInstalled) {
		t.Errorf("remove twice: %v", err)
	}
	left, _ := os.ReadDir(s.Dir())
	for _, e := range left {
		if e.Name() != ".versions" {
			t.Errorf("left in the store: %s", e.Name())
		}
	}
}

func TestInstallRefused(t *testing.T) {
	s := openStore(t)
	if _, err := s.Install(moduleDir(t, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"manifest missing", func(d string) { os.Remove(filepath.Join(d, "manifest.json")) }, "manifest.json"},
		{"malformed manifest", func(d string) { os.WriteFile(filepath.Join(d, "manifest.json"), []byte("{"), 0o644) }, "manifest"},
		{"wasm missing", func(d string) { os.Remove(filepath.Join(d, "m.wasm")) }, "m.wasm"},
		{"wasm is a symlink", func(d string) {
			os.Remove(filepath.Join(d, "m.wasm"))
			os.Symlink(fixtures.Path("hello.wasm"), filepath.Join(d, "m.wasm"))
		}, "not a regular file"},
		{"not wasm", func(d string) { os.WriteFile(filepath.Join(d, "m.wasm"), []byte("#!/bin/sh\n"), 0o644) }, "not a WebAssembly module"},
		{"component", func(d string) {
			b, _ := os.ReadFile(fixtures.Path("component.wasm"))
			os.WriteFile(filepath.Join(d, "m.wasm"), b, 0o644)
		}, "component"},
		{"huge manifest", func(d string) {
			os.WriteFile(filepath.Join(d, "manifest.json"), []byte(`{"description":"`+strings.Repeat("x", 2<<20)+`"}`), 0o644)
		}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := moduleDir(t, "9.9.9")
			tc.setup(dir)
			if _, err := s.Install(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			got, err := s.Get("greet")
			if err != nil || got.Manifest().Version != "1.0.0" {
				t.Fatalf("installed version disturbed: %v %v", got, err)
			}
			staging, _ := filepath.Glob(filepath.Join(s.Dir(), ".staging-*"))
			if len(staging) != 0 {
				t.Errorf("staging left behind: %v", staging)
			}
		})
	}
	for _, bad := range []string{"../x", "a/b", "", "UPPER", ".versions"} {
		if _, err := s.Get(bad); !errors.Is(err, store.ErrNotInstalled) {
			t.Errorf("Get(%q) = %v, want ErrNotInstalled", bad, err)
		}
	}
}

// TestConcurrentReadersDuringInstall: a reader sees the old version or the
// new one, complete, never an error, while versions are swapped.
func TestConcurrentReadersDuringInstall(t *testing.T) {
	s := openStore(t)
	if _, err := s.Install(moduleDir(t, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	dirs := []string{moduleDir(t, "1.0.1"), moduleDir(t, "1.0.2")}
	readWhileSwapping(t, s, 4, 20, func(tool *store.Tool, err error) error {
		if err != nil {
			return err
		}
		if _, err := os.Stat(tool.Module); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}, func(i int) error {
		_, err := s.Install(dirs[i%2])
		return err
	})
}
