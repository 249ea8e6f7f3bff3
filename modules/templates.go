// Package modules holds the tools agent-ctl ships, built from source in the
// directories beside this file, and serves the sources of hello as the
// starting point of `agent-ctl new`: a new tool is hello under another
// name, in the language asked for, that builds and passes its test.
package modules

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
)

//go:embed hello/hello.c hello/rust/main.rs hello/go/main.go hello/as/assembly/index.ts hello/as/package.json hello/as/package-lock.json
var hello embed.FS

// languages maps each language `agent-ctl new` knows to its hello source.
var languages = map[string]string{
	"c":              "hello/hello.c",
	"rust":           "hello/rust/main.rs",
	"go":             "hello/go/main.go",
	"assemblyscript": "hello/as/assembly/index.ts",
}

// LanguageNames lists the languages, sorted.
func LanguageNames() []string {
	var out []string
	for l := range languages {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Compiled on first use: agent-ctl starts (and each container init) need not pay for it.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`) })

// Scaffold writes a new tool named name in lang into dir (which must not
// exist): its source, manifest.json, a Makefile whose `make` builds
// NAME.wasm and whose `make test` runs it through agent-ctl, and a README.
func Scaffold(dir, name, lang string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("tool name %q: want lower-case letters, digits and dashes, starting with a letter", name)
	}
	src, ok := languages[lang]
	if !ok {
		return fmt.Errorf("language %q: want one of %s", lang, strings.Join(LanguageNames(), ", "))
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s already exists", dir)
	}
	files := map[string]string{}
	read := func(p string) string {
		b, err := fs.ReadFile(hello, p)
		if err != nil {
			panic(err) // embedded at build time
		}
		// The program's own name in its messages becomes the tool's.
		return strings.ReplaceAll(string(b), "hello: ", name+": ")
	}
	var build string
	switch lang {
	case "c":
		files["main.c"] = read(src)
		// Compiled and linked in two steps: clang links an optimised
		// build through wasm-opt when binaryen is installed, which drops
		// the name section and leaves the DWARF behind the code.
		build = `# Debug information kept (-g): a trap's backtrace names file:line.
$(NAME).wasm: main.c
	clang --target=wasm32-wasi --sysroot=/usr -O2 -g -Wall -c $< -o $(NAME).o
	clang --target=wasm32-wasi --sysroot=/usr $(NAME).o -o $@
	rm -f $(NAME).o`
	case "rust":
		files["main.rs"] = read(src)
		build = `# Line tables kept (-C debuginfo=1): a trap's backtrace names file:line.
$(NAME).wasm: main.rs
	/usr/bin/rustc --target wasm32-wasi -O -C debuginfo=1 $< -o $@`
	case "go":
		files["main.go"] = read(src)
		files["go.mod"] = "module " + strings.ReplaceAll(name, "-", "") + "\n\ngo 1.26\n"
		build = `$(NAME).wasm: main.go go.mod
	GOOS=wasip1 GOARCH=wasm go build -trimpath -ldflags=-s -o $@ .`
	case "assemblyscript":
		files["assembly/index.ts"] = read(src)
		files["package.json"] = strings.Replace(read("hello/as/package.json"), `"hello-as"`, `"`+name+`"`, 1)
		files["package-lock.json"] = strings.Replace(read("hello/as/package-lock.json"), `"hello-as"`, `"`+name+`"`, -1)
		build = `node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

$(NAME).wasm: assembly/index.ts node_modules/.package-lock.json
	./node_modules/.bin/asc assembly/index.ts --config ./node_modules/@assemblyscript/wasi-shim/asconfig.json -O3 --outFile $@`
	}
	files["Makefile"] = fmt.Sprintf(`# %[1]s: make builds %[1]s.wasm from source; make test runs it through agent-ctl.
NAME      := %[1]s
AGENT_CTL ?= agent-ctl

all: $(NAME).wasm

%[2]s

test: $(NAME).wasm
	@out=$$($(AGENT_CTL) run $(NAME).wasm -- --name test); \
	if [ "$$out" = "hello, test" ]; then echo "ok: $$out"; else echo "FAIL: got '$$out'"; exit 1; fi

.PHONY: all test
`, name, build)
	files["manifest.json"] = fmt.Sprintf(`{
  "name": %q,
  "version": "0.1.0",
  "description": "%s: say what this tool does in one line.",
  "module": "%s.wasm",
  "inputSchema": {
    "type": "object",
    "properties": {
      "name": {"type": "string", "description": "who to greet", "maxLength": 64},
      "shout": {"type": "boolean", "description": "greet in capitals"}
    },
    "additionalProperties": false
  }
}
`, name, name, name)
	files["README.md"] = fmt.Sprintf("# %[1]s\n\nA new agent-ctl tool (%[2]s), started from hello.\n\n"+
		"- `make` builds `%[1]s.wasm` from source; `make test` runs it through agent-ctl.\n"+
		"- `agent-ctl install .` installs it; then `agent-ctl %[1]s --name you`.\n"+
		"- Its flags come from `inputSchema` in `manifest.json`; what it may touch is asked for in\n"+
		"  `capabilities` and granted by the operator (see agent-ctl's docs/modules.md).\n", name, lang)
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
