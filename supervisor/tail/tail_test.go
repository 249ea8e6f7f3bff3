package tail

import (
	"bytes"
	"strings"
	"testing"
)

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes []string
		bytes  string
		str    string
	}{
		{"empty", 4, nil, "", ""},
		{"short", 4, []string{"ab"}, "ab", "ab"},
		{"exactly max", 4, []string{"ab", "cd"}, "abcd", "abcd"},
		{"small writes past max", 4, []string{"ab", "cd", "ef", "gh", "ij"}, "ghij", "…ghij"},
		{"one large write", 4, []string{"0123456789"}, "6789", "…6789"},
		{"large write after small", 4, []string{"ab", "0123456789"}, "6789", "…6789"},
		{"cut inside a rune", 4, []string{"xxé€"}, "\xa9€", "…€"},
		{"zero max is the default", 0, []string{strings.Repeat("a", DefaultMax+1)}, strings.Repeat("a", DefaultMax), "…" + strings.Repeat("a", DefaultMax)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Buffer{Max: tc.max}
			for _, w := range tc.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.Bytes(); !bytes.Equal(got, []byte(tc.bytes)) {
				t.Errorf("Bytes() = %q, want %q", got, tc.bytes)
			}
			if got := b.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
		})
	}
}

// TestBuffer_bounded: however much is written, at most twice Max is held.
func TestBuffer_bounded(t *testing.T) {
	b := &Buffer{Max: 100}
	for i := range 10000 {
		b.Write([]byte{byte('a' + i%26)})
		if len(b.buf) > 200 {
			t.Fatalf("after %d writes the buffer holds %d bytes", i+1, len(b.buf))
		}
	}
}
