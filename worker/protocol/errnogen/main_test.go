package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerated fails when a file errnogen writes differs from what it
// would write now: the table changed and go generate ./worker/protocol
// was not run, or a generated part was edited by hand.
func TestGenerated(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	files, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Errorf("generated %d files, want the worker's, the Go SDK's, and the C, Rust and AssemblyScript SDKs' (6)", len(files))
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./worker/protocol)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./worker/protocol", path)
		}
	}
}

func TestReplaceRegions(t *testing.T) {
	for _, tc := range []struct {
		name, src, want, err string
	}{
		{"replaced", "a\n// BEGIN GENERATED x\nold\nold\n// END GENERATED x\nb\n", "a\n// BEGIN GENERATED x\nNEW\n// END GENERATED x\nb\n", ""},
		{"no end", "// BEGIN GENERATED x\nold\n", "", "no END GENERATED x"},
		{"missing", "a\n", "", "no BEGIN GENERATED x"},
		{"twice", "// BEGIN GENERATED x\n// END GENERATED x\n// BEGIN GENERATED x\n// END GENERATED x\n", "", "unexpected BEGIN GENERATED x"},
		{"unknown", "// BEGIN GENERATED y\n// END GENERATED y\n", "", "unexpected BEGIN GENERATED y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceRegions([]byte(tc.src), map[string]string{"x": "NEW\n"})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
