package main

import (
	"bytes"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Go's regexp runs its NFA on every line that has no literal prefix: a few
// MB/s, so "(?i)error" over a 1 GB log takes minutes. Most log searches are
// built around a literal, though, and every match of the regex contains it:
// finding that literal first (at about 1 GB/s) means the regex only runs on
// the few lines that hold it, and most lines are skipped without even being
// split (see search.skipAhead).

// A literal is text that every match of a regex contains.
type literal struct {
	s    []byte // ASCII-lowered when fold
	fold bool   // compare ignoring ASCII case: from (?i)
}

// maxLiterals bounds the alternatives of a literal set (a|b|c...): each costs a search per line.
const maxLiterals = 4

// requiredLiterals returns literals one of which occurs in every match of
// re, or nil if it finds none worth searching for.
func requiredLiterals(re *syntax.Regexp) []literal {
	switch re.Op {
	case syntax.OpLiteral:
		lit, ok := toLiteral(re)
		if !ok {
			return nil
		}
		return []literal{lit}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []literal
		for _, sub := range re.Sub {
			if l := requiredLiterals(sub); better(l, best) {
				best = l
			}
		}
		return best
	case syntax.OpAlternate:
		var all []literal
		for _, sub := range re.Sub {
			l := requiredLiterals(sub)
			if l == nil {
				return nil // a branch without a literal can match anything
			}
			all = append(all, l...)
		}
		if len(all) > maxLiterals {
			return nil
		}
		return all
	}
	return nil
}

// better prefers fewer alternatives, then a longer shortest literal.
func better(a, b []literal) bool {
	if a == nil {
		return false
	}
	if b == nil {
		return true
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return shortest(a) > shortest(b)
}

func shortest(ls []literal) int {
	n := -1
	for _, l := range ls {
		if n < 0 || len(l.s) < n {
			n = len(l.s)
		}
	}
	return n
}

// toLiteral encodes a literal node; a case-folded one must be ASCII.
func toLiteral(re *syntax.Regexp) (literal, bool) {
	fold := re.Flags&syntax.FoldCase != 0
	var b []byte
	for _, r := range re.Rune {
		if fold && r >= utf8.RuneSelf {
			return literal{}, false
		}
		b = utf8.AppendRune(b, r)
	}
	if fold {
		b = bytes.ToLower(b)
		hasLetter := false
		for _, c := range b {
			hasLetter = hasLetter || ('a' <= c && c <= 'z')
		}
		fold = hasLetter
	}
	if len(b) < 2 {
		return literal{}, false // one byte: no faster than the regex
	}
	return literal{s: b, fold: fold}, true
}

// A finder searches for one literal. It looks for the literal's rarest byte
// with indexByte (both cases of it when fold), or, without fold, for its two
// rarest bytes at once with indexPair, then compares the rest.
type finder struct {
	lit   []byte
	fold  bool
	rare  int // offset in lit of the byte searched for
	rare2 int // offset of the second rarest byte (-1: a one-byte literal)
	// next are the byte streams followed, each with its next position in the
	// current search; a stream with stop set reports its position as a hit.
	bytes [4]byte
	stop  [4]bool
	n     int
}

func newFinder(l literal) *finder {
	f := &finder{lit: l.s, fold: l.fold, rare2: -1}
	for i, c := range l.s {
		if rank(c) > rank(l.s[f.rare]) {
			f.rare = i
		}
	}
	for i, c := range l.s {
		if i != f.rare && (f.rare2 < 0 || rank(c) > rank(l.s[f.rare2])) {
			f.rare2 = i
		}
	}
	c := l.s[f.rare]
	f.add(c, false)
	if l.fold && 'a' <= c && c <= 'z' {
		f.add(c-'a'+'A', false)
	}
	if l.fold && (bytes.IndexByte(l.s, 'k') >= 0 || bytes.IndexByte(l.s, 's') >= 0) {
		// (?i)k also matches the Kelvin sign U+212A (E2 84 AA), and (?i)s the
		// long s U+017F (C5 BF): lines holding their first bytes go to the regex.
		f.add(0xE2, true)
		f.add(0xC5, true)
	}
	return f
}

func (f *finder) add(c byte, stop bool) {
	f.bytes[f.n], f.stop[f.n] = c, stop
	f.n++
}

// index returns the position of the first occurrence of the literal in b
// (or of a byte that may start a non-ASCII case variant of it), or -1.
func (f *finder) index(b []byte) int {
	if !f.fold && f.n == 1 {
		return f.indexExact(b)
	}
	var next [4]int // position in b of each stream's byte; -1: none left; -2: not searched
	for k := 0; k < f.n; k++ {
		next[k] = -2
	}
	from := 0 // candidates start at or after from
	for {
		best, bestK := -1, -1
		for k := 0; k < f.n; k++ {
			pos := from
			if !f.stop[k] {
				pos += f.rare
			}
			if next[k] == -2 || (next[k] >= 0 && next[k] < pos) {
				if pos > len(b) {
					next[k] = -1
				} else if i := indexByte(b[pos:], f.bytes[k]); i < 0 {
					next[k] = -1
				} else {
					next[k] = pos + i
				}
			}
			if next[k] >= 0 {
				start := next[k]
				if !f.stop[k] {
					start -= f.rare
				}
				if best < 0 || start < best {
					best, bestK = start, k
				}
			}
		}
		if best < 0 {
			return -1
		}
		if f.stop[bestK] || f.equalAt(b, best) {
			return best
		}
		from = best + 1
	}
}

// indexExact is bytes.Index(b, f.lit): candidates are the places where the
// literal's two rarest bytes both are, and each is compared whole.
func (f *finder) indexExact(b []byte) int {
	if f.rare2 < 0 {
		return indexByte(b, f.lit[0])
	}
	from := 0
	for {
		// Candidate starts i leave room for the whole literal: i+len(lit) <= len(b).
		end := len(b) - len(f.lit) + max(f.rare, f.rare2) + 1
		if from >= end {
			return -1
		}
		i := indexPair(b[from:end], f.lit[f.rare], f.rare, f.lit[f.rare2], f.rare2)
		if i < 0 {
			return -1
		}
		if bytes.Equal(b[from+i:from+i+len(f.lit)], f.lit) {
			return from + i
		}
		from += i + 1
	}
}

func (f *finder) equalAt(b []byte, i int) bool {
	if i+len(f.lit) > len(b) {
		return false
	}
	if !f.fold {
		return bytes.Equal(b[i:i+len(f.lit)], f.lit)
	}
	for j, c := range f.lit {
		x := b[i+j]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != c {
			return false
		}
	}
	return true
}

// rank orders bytes from common to rare in log text: the rarest byte of a
// literal has the highest rank. Bytes not listed (upper case, most
// punctuation) count as rare.
func rank(c byte) int {
	const common = " etaoinsrhldcum0123456789.:-/=pfgwyb_,vk\"[]xjqz"
	if i := strings.IndexByte(common, c); i >= 0 {
		return i
	}
	return len(common)
}
