package testutil_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

func TestDocTable(t *testing.T) {
	const (
		begin = "<!-- table -->\n"
		end   = "<!-- end -->\n"
		doc   = "# Page\n\n" + begin + "| a |\n" + end + "after\n"
	)
	for _, tc := range []struct {
		name   string
		doc    string
		table  string
		update bool
		fails  bool
		after  string // the page once DocTable returns
	}{
		{"same table", doc, "| a |\n", false, false, doc},
		{"other table", doc, "| b |\n", false, true, doc},
		{"no begin marker", "# Page\n| a |\n" + end, "| a |\n", false, true, "# Page\n| a |\n" + end},
		{"no end marker", "# Page\n" + begin + "| a |\n", "| a |\n", false, true, "# Page\n" + begin + "| a |\n"},
		{"update writes the table", doc, "| b |\n| c |\n", true, false, "# Page\n\n" + begin + "| b |\n| c |\n" + end + "after\n"},
		{"update without markers", "# Page\n", "| b |\n", true, true, "# Page\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "page.md")
			if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			f := &fakeTB{TB: t}
			testutil.DocTable(f, path, begin, end, tc.table, tc.update, "go test -update")
			if failed := f.failed != ""; failed != tc.fails {
				t.Errorf("failed %v (%q), want %v", failed, f.failed, tc.fails)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.after {
				t.Errorf("page after DocTable:\n%q\nwant:\n%q", b, tc.after)
			}
		})
	}
}
