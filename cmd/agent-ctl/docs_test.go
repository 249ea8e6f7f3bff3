package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocs_logsManifest: the manifest docs/modules.md shows as the shipped
// logs tool's is modules/logs/manifest.json byte for byte (it showed
// another one, named logs, with other parameters and limits).
func TestDocs_logsManifest(t *testing.T) {
	doc := readRepoFile(t, "docs/modules.md")
	shipped := readRepoFile(t, "modules/logs/manifest.json")
	_, rest, ok := strings.Cut(string(doc), "\n## The manifest\n")
	if !ok {
		t.Fatal(`docs/modules.md has no "## The manifest" section`)
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	if !ok {
		t.Fatal("docs/modules.md's manifest section shows no JSON")
	}
	shown, _, _ := strings.Cut(rest, "```\n")
	if !strings.Contains(string(doc), "The shipped `modules/logs/manifest.json`") || shown != string(shipped) {
		t.Errorf("docs/modules.md's manifest is not modules/logs/manifest.json as shipped:\n%s\nshipped:\n%s", shown, shipped)
	}
}

// TestDocs_namedFilesExist: every relative link of the repository's
// Markdown files leads to a file, and every NAME.md they mention is one of
// them (the Rust SDK's README cited a TOOLCHAIN.md that is not in the
// repository).
func TestDocs_namedFilesExist(t *testing.T) {
	root := repoPath(".")
	link := regexp.MustCompile(`\]\(([^)#:\s]+)(?:#[^)]*)?\)`)
	named := regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9_-]*\.md\b`)
	docs := map[string]bool{} // base names of the Markdown files
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			files = append(files, path)
			docs[d.Name()] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d Markdown files under %s", len(files), root)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), m[1])); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, m[1])
			}
		}
		for _, name := range named.FindAllString(string(text), -1) {
			if !docs[name] {
				t.Errorf("%s names %s, which is not in the repository", rel, name)
			}
		}
	}
}

// TestDocs_exportedNamesDocumented: every exported name outside package
// main and tests has a doc comment (issue 13), the Go SDK's included.
// Error and String methods are exempt: their interface says what they do.
// A const or var group's comment covers the names in it, as godoc shows it.
func TestDocs_exportedNamesDocumented(t *testing.T) {
	root := repoPath(".")
	var missing []string
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" || ast.IsGenerated(f) {
			return nil
		}
		checked++
		undocumented := func(pos token.Pos, what string) {
			rel, _ := filepath.Rel(root, fset.Position(pos).Filename)
			missing = append(missing, fmt.Sprintf("%s:%d: %s", rel, fset.Position(pos).Line, what))
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if !decl.Name.IsExported() || decl.Doc != nil || !exportedReceiver(decl) {
					continue
				}
				if decl.Recv != nil && (decl.Name.Name == "Error" || decl.Name.Name == "String") {
					continue
				}
				undocumented(decl.Pos(), "func "+decl.Name.Name)
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						if spec.Name.IsExported() && spec.Doc == nil && decl.Doc == nil {
							undocumented(spec.Pos(), "type "+spec.Name.Name)
						}
					case *ast.ValueSpec:
						for _, name := range spec.Names {
							if name.IsExported() && spec.Doc == nil && spec.Comment == nil && decl.Doc == nil {
								undocumented(name.Pos(), name.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 200 {
		t.Fatalf("checked only %d Go files under %s", checked, root)
	}
	if len(missing) > 0 {
		t.Errorf("%d exported names have no doc comment:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

// exportedReceiver reports whether decl is a function or a method of an
// exported type: a method of an unexported type is not part of any API.
func exportedReceiver(decl *ast.FuncDecl) bool {
	if decl.Recv == nil {
		return true
	}
	typ := decl.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if index, ok := typ.(*ast.IndexExpr); ok {
		typ = index.X
	}
	id, ok := typ.(*ast.Ident)
	return !ok || id.IsExported()
}
