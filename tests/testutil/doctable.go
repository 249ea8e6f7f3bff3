package testutil

import (
	"bytes"
	"os"
	"testing"
)

// DocTable keeps a table in a docs page true: it compares table with the
// text between the marker lines begin and end in the file at path, and
// fails t when they differ, naming howToUpdate, the command that rewrites
// it. With update set it writes table between the markers instead. The
// tests that measure what the walls do (the escape kit, the root side)
// make their tables this way, so the page says what the code does.
func DocTable(t testing.TB, path, begin, end, table string, update bool, howToUpdate string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
		return
	}
	before, rest, ok1 := bytes.Cut(doc, []byte(begin))
	got, after, ok2 := bytes.Cut(rest, []byte(end))
	if !ok1 || !ok2 {
		t.Fatalf("%s has no table between %q and %q", path, begin, end)
		return
	}
	if update {
		var out bytes.Buffer // not append(before, …): before shares doc's array
		for _, b := range [][]byte{before, []byte(begin), []byte(table), []byte(end), after} {
			out.Write(b)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
		return
	}
	if string(got) != table {
		t.Errorf("the table in %s is not what the code does; run %s\n got:\n%s\nwant:\n%s", path, howToUpdate, got, table)
	}
}
