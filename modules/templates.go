// Package modules holds the tools agent-ctl ships, built from source in the
// directories beside this file, and the starting point of `agent-ctl new`: a
// small tool built on the SDK of the language asked for (sdk/), with the SDK
// copied into the new directory, a manifest the SDK reads its parameters
// from, a Makefile, and a test that calls the tool through agent-ctl.
package modules

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// The tool's sources (scaffold/) and the SDKs' library files, without their
// tests and examples. The Go SDK is a module of its own (sdk/go/go.mod),
// which an embed directive cannot reach into: scaffold/gosdk holds copies
// of its files, refreshed by go generate and checked against the originals
// by TestScaffold_goSDKCopiesCurrent.
//
//go:embed scaffold/main.c scaffold/main.rs scaffold/main.go.tmpl scaffold/index.ts scaffold/manifest.json scaffold/test.sh
//go:embed sdk/c/agentctl.c sdk/c/agentctl.h sdk/rust/agentctl.rs scaffold/gosdk/*.go.txt
//go:embed sdk/assemblyscript/agentctl.ts sdk/assemblyscript/package.json sdk/assemblyscript/package-lock.json
//go:generate sh -c "rm -f scaffold/gosdk/*.go.txt && for f in sdk/go/agentctl/*.go; do case $DOLLAR{f} in *_test.go) ;; *) cp $DOLLAR{f} scaffold/gosdk/$(basename $DOLLAR{f}).txt ;; esac; done"
var scaffoldFS embed.FS

// language is what `agent-ctl new` writes for one language: the tool's
// source (from scaffold/, renamed), the SDK files (copied into agentctl/)
// and the Makefile's build rules.
type language struct {
	source, as string
	sdk        []string
	build      string
}

var languages = map[string]language{
	"c": {
		source: "scaffold/main.c", as: "main.c",
		sdk: []string{"sdk/c/agentctl.c", "sdk/c/agentctl.h"},
		// The manifest becomes a C string (manifest.inc) for the SDK to read.
		// Compiled and linked in two steps: clang links an optimised build
		// through wasm-opt when binaryen is installed, which drops the name
		// section and leaves the DWARF behind the code.
		build: `# Not CC: make defines it (cc), so ?= would never pick clang.
WASM_CC ?= clang
WASI    := --target=wasm32-wasi --sysroot=/usr

manifest.inc: manifest.json
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' manifest.json >$@

# Debug information kept (-g): a trap's backtrace names file:line.
$(NAME).wasm: main.c manifest.inc agentctl/agentctl.c agentctl/agentctl.h
	$(WASM_CC) $(WASI) -O2 -g -Wall -Iagentctl -c main.c -o main.o
	$(WASM_CC) $(WASI) -O2 -g -Wall -Iagentctl -c agentctl/agentctl.c -o agentctl.o
	$(WASM_CC) $(WASI) main.o agentctl.o -o $@
	rm -f main.o agentctl.o

clean:
	rm -f $(NAME).wasm manifest.inc main.o agentctl.o`,
	},
	"rust": {
		source: "scaffold/main.rs", as: "main.rs",
		sdk: []string{"sdk/rust/agentctl.rs"},
		build: `# Debian's rustc, by full path: rustup's (first on PATH) has no wasm32 target.
RUSTC ?= /usr/bin/rustc

# Line tables kept (-C debuginfo=1): a trap's backtrace names file:line.
# manifest.json is built in (include_str!).
$(NAME).wasm: main.rs manifest.json agentctl/agentctl.rs
	$(RUSTC) --edition 2021 --target wasm32-wasi -O -C debuginfo=1 main.rs -o $@

clean:
	rm -f $(NAME).wasm`,
	},
	"go": {
		source: "scaffold/main.go.tmpl", as: "main.go",
		sdk: []string{"scaffold/gosdk/*.go.txt"},
		build: `GO ?= go

# manifest.json is built in (//go:embed); the SDK is the local package ./agentctl.
# Not stripped (no -ldflags=-s): a trap's backtrace keeps the function names.
$(NAME).wasm: main.go go.mod manifest.json $(wildcard agentctl/*.go)
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ .

clean:
	rm -f $(NAME).wasm`,
	},
	"assemblyscript": {
		source: "scaffold/index.ts", as: "index.ts",
		sdk: []string{"sdk/assemblyscript/agentctl.ts"},
		// npm ci installs the exact versions of package-lock.json (the SDK's).
		// The manifest becomes a string constant (manifest.ts) for the SDK to read.
		build: `ASC       := ./node_modules/.bin/asc
AS_CONFIG := ./node_modules/@assemblyscript/wasi-shim/asconfig.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

manifest.ts: manifest.json
	{ printf 'export const MANIFEST: string = ""\n'; sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/  + "/' -e 's/$$/\\n"/' manifest.json; printf ';\n'; } >$@

# --debug keeps the function names for a trap's backtrace.
$(NAME).wasm: index.ts manifest.ts agentctl/agentctl.ts node_modules/.package-lock.json
	$(ASC) index.ts --config $(AS_CONFIG) -O2 --debug --outFile $@

clean:
	rm -rf $(NAME).wasm manifest.ts node_modules`,
	},
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
// The manifest's name rule: new refused my_tool, which install takes.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`) })

// Scaffold writes a new tool named name in lang into dir (which must not
// exist): its source, the SDK in agentctl/, manifest.json, a Makefile whose
// `make` builds NAME.wasm and whose `make test` runs test.sh (install into a
// throwaway home, calls through the manifest), and a README. Every check
// runs before anything is written.
func Scaffold(dir, name, lang string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("tool name %q: want a lower-case letter, then up to 62 lower-case letters, digits, \"_\" or \"-\"", name)
	}
	if slices.Contains(manifest.ReservedNames, name) {
		return fmt.Errorf("tool name %q: is reserved: it is one of agent-ctl's own commands (agent-ctl %s …); choose another name", name, name)
	}
	l, ok := languages[lang]
	if !ok {
		return fmt.Errorf("language %q: want one of %s", lang, strings.Join(LanguageNames(), ", "))
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists", dir)
	}
	files, err := scaffoldFiles(name, lang, l)
	if err != nil {
		return err
	}
	for _, rel := range slices.Sorted(mapKeys(files)) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, files[rel], mode); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
	}
	return nil
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// scaffoldFiles returns the new directory's files by path.
func scaffoldFiles(name, lang string, l language) (map[string][]byte, error) {
	fill := func(p string) ([]byte, error) {
		b, err := fs.ReadFile(scaffoldFS, p)
		if err != nil {
			return nil, fmt.Errorf("reading template %s: %w", p, err)
		}
		return []byte(strings.NewReplacer("__NAME__", name, "__MODULE__", name).Replace(string(b))), nil
	}
	files := map[string][]byte{}
	for _, p := range []string{l.source, "scaffold/manifest.json", "scaffold/test.sh"} {
		b, err := fill(p)
		if err != nil {
			return nil, err
		}
		rel := path.Base(p)
		if p == l.source {
			rel = l.as
		}
		files[rel] = b
	}
	for _, pattern := range l.sdk {
		matches, err := fs.Glob(scaffoldFS, pattern)
		if err != nil || len(matches) == 0 {
			return nil, fmt.Errorf("reading the %s SDK %s: no files", lang, pattern)
		}
		for _, p := range matches {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			b, err := fs.ReadFile(scaffoldFS, p)
			if err != nil {
				return nil, fmt.Errorf("reading the %s SDK %s: %w", lang, p, err)
			}
			files["agentctl/"+strings.TrimSuffix(path.Base(p), ".txt")] = b
		}
	}
	if lang == "assemblyscript" {
		for _, f := range []string{"package.json", "package-lock.json"} {
			b, err := fs.ReadFile(scaffoldFS, "sdk/assemblyscript/"+f)
			if err != nil {
				return nil, fmt.Errorf("reading the %s SDK %s: %w", lang, f, err)
			}
			s := strings.ReplaceAll(string(b), `"agentctl-sdk-as"`, strconv.Quote(name))
			s = regexp.MustCompile(`"description": "[^"]*"`).ReplaceAllString(s, `"description": "`+name+`: an agent-ctl tool"`)
			files[f] = []byte(s)
		}
	}
	if lang == "go" {
		files["go.mod"] = []byte("module " + name + "\n\ngo 1.24\n")
	}
	files["Makefile"] = []byte(fmt.Sprintf(`# %[1]s: make builds %[1]s.wasm from main and the SDK in agentctl/; make test
# installs it into a throwaway agent-ctl home and calls it through its manifest
# (agent-ctl from $AGENTCTL_BIN, else PATH).
NAME := %[1]s

all: $(NAME).wasm

%[2]s

test: $(NAME).wasm
	sh ./test.sh

.PHONY: all test clean
`, name, l.build))
	files["README.md"] = []byte(fmt.Sprintf("# %[1]s\n\nAn agent-ctl tool in %[2]s, built on agent-ctl's %[2]s SDK (copied into `agentctl/`).\n\n"+
		"- `make` builds `%[1]s.wasm`; `make test` installs it into a throwaway agent-ctl home and\n"+
		"  calls it through its manifest (agent-ctl from `$AGENTCTL_BIN`, else `PATH`).\n"+
		"- Its parameters are declared once, in `inputSchema` of `manifest.json`: agent-ctl turns\n"+
		"  them into flags and checks them, and the SDK reads the same manifest (built into the\n"+
		"  module) for their names and types. Add a parameter there, then read it in the code.\n"+
		"- `agent-ctl validate .`, `agent-ctl try . -- --text hi`, `agent-ctl dev .` while working;\n"+
		"  `agent-ctl install .` installs it; then `agent-ctl %[1]s --text hi --repeat 2`.\n"+
		"- A file it reads must be under a directory the operator grants:\n"+
		"  `agent-ctl grant %[1]s --dir HOST_DIR:/data`, then `agent-ctl %[1]s --file /data/x.txt`.\n", name, lang))
	return files, nil
}
