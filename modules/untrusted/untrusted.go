// Package untrusted shows text that agent-ctl did not write itself — a
// module's function and import names, a trap message, a panic line from a
// module's stderr, a remote node's words — inside agent-ctl's own messages,
// so that the text cannot drive the operator's terminal.
//
// A terminal acts on escape sequences (clear the screen, retitle the window,
// write the clipboard with OSC 52, hide text) and on \r and \n (overwrite a
// line, forge one); an editor or a terminal also reorders text around
// Unicode bidi controls (Trojan Source). Show turns each of these into a
// visible escape and leaves everything else as it was, so ordinary names
// and messages read as before. It is for messages, not for a module's own
// stdout and stderr, which agent-ctl forwards unchanged on purpose.
package untrusted

import (
	"strconv"
	"unicode/utf8"
)

// Show returns s with control characters (C0 including \n, \r and \t; DEL;
// C1), Unicode bidi controls (U+202A–U+202E, U+2066–U+2069, and the marks
// U+061C, U+200E, U+200F), the line and paragraph separators U+2028 and
// U+2029, and invalid UTF-8 written as Go escapes them in a quoted string:
// \x1b, \n, \u0085, \u202e, \xff. Everything else, backslashes included, is
// left as it is. s itself is returned when nothing needs escaping, without
// allocating.
func Show(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f { // printable ASCII: the common case
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\x`...)
			b = append(b, hex[s[i]>>4], hex[s[i]&0xf])
		case needsEscape(r, n):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\n', '\u202e'
			b = append(b, q[1:len(q)-1]...)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

const hex = "0123456789abcdef"

// needsEscape reports whether rune r, n bytes long in its string, is one
// that Show escapes.
func needsEscape(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1: // an invalid byte
		return true
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // bidi marks
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// Error returns err with its text as Show writes it, for an error whose
// text another party wrote (a registry's error message, a remote node's
// words); it still wraps err, for errors.Is and errors.As. Nil stays nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return shownError{err}
}

type shownError struct{ err error }

func (e shownError) Error() string { return Show(e.err.Error()) }
func (e shownError) Unwrap() error { return e.err }
