package modules

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// TestScaffold checks what `agent-ctl new` writes for each language: the SDK
// copied in, a manifest agent-ctl accepts, a Makefile that lists the SDK files
// as prerequisites, and nothing left over from hello. Building and running
// the result is tests/e2e's TestNew_toPassingTest.
func TestScaffold(t *testing.T) {
	tests := []struct {
		lang  string
		files []string // besides manifest.json, Makefile, README.md, test.sh
		deps  []string // what the Makefile's module rule must depend on
	}{
		{"c", []string{"main.c", "agentctl/agentctl.c", "agentctl/agentctl.h"}, []string{"agentctl/agentctl.c", "agentctl/agentctl.h", "manifest.inc"}},
		{"rust", []string{"main.rs", "agentctl/agentctl.rs"}, []string{"agentctl/agentctl.rs", "manifest.json"}},
		{"go", []string{"main.go", "go.mod", "agentctl/args.go", "agentctl/manifest.go", "agentctl/net_wasip1.go"}, []string{"$(wildcard agentctl/*.go)", "manifest.json"}},
		{"assemblyscript", []string{"index.ts", "agentctl/agentctl.ts", "package.json", "package-lock.json"}, []string{"agentctl/agentctl.ts", "manifest.ts"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "word-count")
			if err := Scaffold(dir, "word-count", tt.lang); err != nil {
				t.Fatal(err)
			}
			for _, f := range append([]string{"manifest.json", "Makefile", "README.md", "test.sh"}, tt.files...) {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
			_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return err
				}
				b, _ := os.ReadFile(p)
				if bytes.Contains(bytes.ToLower(b), []byte("hello")) {
					t.Errorf("%s mentions hello", p)
				}
				if strings.HasSuffix(p, "_test.go") {
					t.Errorf("%s: the SDK's tests were copied", p)
				}
				return nil
			})
			b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Parse(b)
			if err != nil {
				t.Fatalf("manifest: %v", err)
			}
			if m.Name != "word-count" {
				t.Errorf("manifest name %q", m.Name)
			}
			mk, _ := os.ReadFile(filepath.Join(dir, "Makefile"))
			var rule string
			for _, line := range strings.Split(string(mk), "\n") {
				if strings.HasPrefix(line, "$(NAME).wasm:") {
					rule = line
				}
			}
			for _, d := range tt.deps {
				if !strings.Contains(rule, d) {
					t.Errorf("Makefile rule %q does not depend on %s", rule, d)
				}
			}
			if tt.lang == "rust" && !strings.Contains(string(mk), "--edition 2021") {
				t.Error("rust is not built as edition 2021")
			}
			if tt.lang == "go" {
				gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
				if bytes.Contains(gomod, []byte("replace")) || bytes.Contains(gomod, []byte("require")) {
					t.Errorf("go.mod needs more than the directory:\n%s", gomod)
				}
			}
		})
	}
}

// TestScaffold_refused: names and languages `new` refuses, before writing
// anything.
func TestScaffold_refused(t *testing.T) {
	tests := []struct{ name, lang, want string }{
		{"run", "c", `tool name "run": is reserved`},
		{"install", "go", `tool name "install": is reserved`},
		{"new", "rust", `tool name "new": is reserved`},
		{"Bad", "c", "want a lower-case letter"},
		{"my.tool", "c", "want a lower-case letter"},
		{"ok", "cobol", `language "cobol"`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.lang, func(t *testing.T) {
			parent := t.TempDir()
			err := Scaffold(filepath.Join(parent, tt.name), tt.name, tt.lang)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Scaffold(%q, %q) = %v, want %q", tt.name, tt.lang, err, tt.want)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("wrote %v before refusing", ents)
			}
		})
	}
	for _, n := range manifest.ReservedNames {
		if err := Scaffold(filepath.Join(t.TempDir(), n), n, "c"); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("reserved name %q: %v", n, err)
		}
	}
}

// TestScaffold_nameRule: new takes the names a manifest takes (it refused
// my_tool, which install accepts).
func TestScaffold_nameRule(t *testing.T) {
	for _, name := range []string{"my_tool", "my-tool", "a", "t0", "a" + strings.Repeat("_", 62)} {
		dir := filepath.Join(t.TempDir(), name)
		if err := Scaffold(dir, name, "c"); err != nil {
			t.Errorf("Scaffold(%q): %v", name, err)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := manifest.Parse(data); err != nil {
			t.Errorf("%s: the manifest new wrote: %v", name, err)
		}
	}
}

// TestScaffold_goSDKCopiesCurrent: scaffold/gosdk must be the Go SDK's files
// as they are (go generate ./modules refreshes it).
func TestScaffold_goSDKCopiesCurrent(t *testing.T) {
	src, err := filepath.Glob("sdk/go/agentctl/*.go")
	if err != nil || len(src) == 0 {
		t.Fatalf("no Go SDK files: %v", err)
	}
	want := map[string]bool{}
	for _, p := range src {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		base := filepath.Base(p)
		want[base+".txt"] = true
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join("scaffold/gosdk", base+".txt"))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("scaffold/gosdk/%s.txt differs from %s (run go generate ./modules): %v", base, p, err)
		}
	}
	copies, _ := filepath.Glob("scaffold/gosdk/*.txt")
	for _, c := range copies {
		if !want[filepath.Base(c)] {
			t.Errorf("%s: no such file in the Go SDK (run go generate ./modules)", c)
		}
	}
}
