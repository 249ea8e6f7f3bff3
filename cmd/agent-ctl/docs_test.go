package main

import (
	"os"
	"strings"
	"testing"
)

// TestDocs_logsManifest: the manifest docs/modules.md shows as the shipped
// logs tool's is modules/logs/manifest.json byte for byte (it showed
// another one, named logs, with other parameters and limits).
func TestDocs_logsManifest(t *testing.T) {
	doc, err := os.ReadFile(repoPath("docs/modules.md"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(repoPath("modules/logs/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
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
