package untrusted

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestShow(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain ASCII", "main @ 0x31", "main @ 0x31"},
		{"backslash kept", `C:\x1b\n`, `C:\x1b\n`},
		{"Unicode", "grüße 日本 😀 ‐ ∑", "grüße 日本 😀 ‐ ∑"},
		{"ESC CSI", "\x1b[2J", `\x1b[2J`},
		{"OSC 52 with BEL", "\x1b]52;c;aGk=\x07", `\x1b]52;c;aGk=\a`},
		{"newline", "a\nb", `a\nb`},
		{"carriage return", "ok\rfake", `ok\rfake`},
		{"tab", "a\tb", `a\tb`},
		{"NUL", "a\x00b", `a\x00b`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI", "a\u009b2Jb", `a\u009b2Jb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"bidi RLO", "a\u202eb", `a\u202eb`},
		{"bidi LRE", "a\u202ab", `a\u202ab`},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"bidi marks", "\u061c\u200e\u200f", `\u061c\u200e\u200f`},
		{"line separator", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"invalid byte", "a\xffb", `a\xffb`},
		{"lone continuation", "\x80", `\x80`},
		{"truncated sequence", "日\xe6\x97", `日\xe6\x97`},
		{"surrogate encoding", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"mixed", "é\x1b[31mred\u202e", `é\x1b[31mred\u202e`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Show(tt.in)
			if got != tt.want {
				t.Errorf("Show(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for i := 0; i < len(got); i++ {
				if c := got[i]; c < 0x20 || c == 0x7f {
					t.Errorf("Show(%q) = %q holds control byte 0x%02x", tt.in, got, c)
				}
			}
		})
	}
}

// TestShow_noAllocation: text with nothing to escape, the usual case, is
// returned as it is.
func TestShow_noAllocation(t *testing.T) {
	s := strings.Repeat("wasm `unreachable` instruction executed ü ", 8)
	if n := testing.AllocsPerRun(100, func() { _ = Show(s) }); n != 0 {
		t.Errorf("Show of plain text allocated %v times, want 0", n)
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	base := errors.New("not found")
	err := Error(fmt.Errorf("fetching x: %w: %s", base, "name unknown: \x1b]0;t\x07"))
	if got, want := err.Error(), `fetching x: not found: name unknown: \x1b]0;t\a`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, base) {
		t.Errorf("errors.Is(%v, base) = false: the wrapped error is lost", err)
	}
}

func FuzzShow(f *testing.F) {
	for _, s := range []string{"", "main", "\x1b[2J", "\u202e", "\xff", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Show(s)
		for _, r := range got {
			if needsEscape(r, len(string(r))) && r != '\uFFFD' {
				t.Fatalf("Show(%q) = %q keeps %U", s, got, r)
			}
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("Show(%q) = %q holds control byte 0x%02x", s, got, c)
			}
		}
		if Show(got) != got {
			t.Fatalf("Show(%q) = %q is not stable", s, got)
		}
	})
}

func ExampleShow() {
	fmt.Println("at " + Show("\x1b[2J") + " @ 0x31")
	fmt.Println(Show("ordinary_name"))
	// Output:
	// at \x1b[2J @ 0x31
	// ordinary_name
}
