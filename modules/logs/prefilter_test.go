package main

import (
	"bytes"
	"math/rand"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	for _, tc := range []struct{ re, want string }{
		{"needle", "needle"},
		{"needle-[a-z]+", "needle-"},
		{`(?i)Timeout`, "(?i)timeout"},
		{`\d+ ERROR \w+`, " ERROR "},
		{`ERROR|FATAL`, "ERROR|FATAL"},
		{`(ERROR|FATAL): disk`, ": disk"},
		{`(?i)(error|warn)`, "(?i)error|(?i)warn"},
		{`status=5\d\d`, "status=5"},
		{`(abc)+`, "abc"},
		{`(abc){2,}`, "abc"},
		{`(?i)é+`, ""}, // non-ASCII under (?i): left to the regex
		{`(abc)*`, ""},
		{`abc|.`, ""},
		{`a`, ""},
		{`.*`, ""},
		{`a|b|c|d|e`, ""},
		{`(?i)123`, "123"}, // no letters: folding changes nothing
		{`(?i)timed? ?out after \d+s`, "(?i)out after "},
	} {
		tree, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, l := range requiredLiterals(tree.Simplify()) {
			p := string(l.s)
			if l.fold {
				p = "(?i)" + p
			}
			parts = append(parts, p)
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("requiredLiterals(%q) = %q, want %q", tc.re, got, tc.want)
		}
	}
}

// refIndex is what finder.index must return: the first ASCII case-insensitive match (or exact).
func refIndex(b []byte, l literal) int {
	if !l.fold {
		return bytes.Index(b, l.s)
	}
	return bytes.Index(bytes.ToLower(b), l.s) // ASCII-only input here
}

func TestFinder(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	alphabet := "abcdeEXxyYzZ-_ \n0"
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.Intn(200))
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		lit := make([]byte, 2+r.Intn(3))
		for j := range lit {
			lit[j] = strings.ToLower(alphabet)[r.Intn(len(alphabet)-2)]
		}
		for _, fold := range []bool{false, true} {
			l := literal{s: lit, fold: fold}
			if got, want := newFinder(l).index(b), refIndex(b, l); got != want {
				t.Fatalf("finder %q fold=%v in %q: %d, want %d", lit, fold, b, got, want)
			}
		}
	}
}

// TestFinder_nonASCIIFold checks that (?i) literals holding k or s do not
// skip lines where the regex matches through U+212A (K) or U+017F (ſ).
func TestFinder_nonASCIIFold(t *testing.T) {
	for _, tc := range []struct{ re, line string }{
		{`(?i)disk`, "DI\u017fK full"},
		{`(?i)disk`, "dis\u212a full"},
		{`(?i)fails`, "FAIL\u017f"},
	} {
		re := regexp.MustCompile(tc.re)
		if !re.MatchString(tc.line) {
			t.Fatalf("%s does not match %q", tc.re, tc.line)
		}
		tree, _ := syntax.Parse(tc.re, syntax.Perl)
		ls := requiredLiterals(tree.Simplify())
		if len(ls) != 1 || newFinder(ls[0]).index([]byte(tc.line)) < 0 {
			t.Errorf("%s: the finder skips %q, which the regex matches", tc.re, tc.line)
		}
	}
}

func TestCountLines(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 5000; i++ {
		b := make([]byte, r.Intn(100))
		for j := range b {
			b[j] = []byte("\n\x0a\x8a\x0b\x09a\xff")[r.Intn(7)]
		}
		if got, want := countLines(b), bytes.Count(b, []byte{'\n'}); got != want {
			t.Fatalf("countLines(%q) = %d, want %d", b, got, want)
		}
	}
}

func FuzzFinder(f *testing.F) {
	f.Add([]byte("Needle in a haystack"), []byte("needle"), true)
	f.Fuzz(func(t *testing.T, b, lit []byte, fold bool) {
		if len(lit) < 1 || bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 }) {
			return
		}
		if fold {
			lit = bytes.ToLower(lit)
		}
		l := literal{s: lit, fold: fold}
		if got, want := newFinder(l).index(b), refIndex(b, l); got != want {
			t.Fatalf("finder %q fold=%v in %q: %d, want %d", lit, fold, b, got, want)
		}
	})
}
