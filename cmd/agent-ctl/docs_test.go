package main

import (
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
