// Package symbols puts a trap's backtrace in source terms: it demangles
// Rust and C++ function names, and maps a frame's module offset to the
// file and line that the module's DWARF (the .debug_* custom sections a
// `-g` build keeps) names for it.
//
// It is a leaf package: it takes bytes and offsets and knows nothing of
// wasmtime. The worker calls it only after a trap, so a call that succeeds
// never pays for it, and compiling a module never reads its debug sections.
//
//	lines, err := symbols.Load(wasm)
//	if err == nil && lines != nil {
//		if pos, ok := lines.At(moduleOffset); ok {
//			fmt.Println(symbols.Demangle(name), pos) // rtrap::divide rtrap.rs:8:5
//		}
//	}
package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/ianlancetaylor/demangle"
)

// MaxDebugBytes bounds the debug sections Load parses: a module is hostile
// input, and its DWARF is parsed inside the worker on the trap path.
// Rust's standard library alone brings about 6 MiB of it.
const MaxDebugBytes = 64 << 20

// Errors of Load, for a module whose sections do not parse.
var (
	// ErrMalformed is a module whose section headers run past its end.
	ErrMalformed = errors.New("malformed module")
	// ErrTooLarge is a module whose debug sections exceed MaxDebugBytes.
	ErrTooLarge = errors.New("debug sections too large")
)

// Demangle returns the source-level name of a mangled Rust (legacy `_ZN…E`
// with its hash, or v0 `_R…`) or C++ (`_Z…`) symbol, without the hash and
// the parameter list; any other name comes back unchanged.
func Demangle(name string) string {
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "_R") {
		return name // C, Go, hand-written names: the common case, no parse
	}
	if s, ok := legacyRust(name); ok {
		return s
	}
	// MaxLength: a hostile name section can hold a name that expands
	// exponentially; 2^12 bytes is more than any backtrace line wants.
	s, err := demangle.ToString(name, demangle.NoParams, demangle.NoClones, demangle.NoRust, demangle.MaxLength(12))
	if err != nil || s == "" {
		return name
	}
	return s
}

// legacyRust demangles Rust's legacy mangling: an Itanium nested name
// (`_ZN` length-prefixed identifiers `E`) whose last identifier is the
// hash `h` + 16 hex digits, with `$…$` escapes in the identifiers. The
// demangle package handles it too, but takes the leading `_` of an
// identifier such as `__rust_end_short_backtrace` for a separator.
func legacyRust(name string) (string, bool) {
	s := name
	if i := strings.LastIndex(s, "E."); i > 0 { // .llvm.NNN and similar suffixes
		s = s[:i+1]
	}
	if !strings.HasPrefix(s, "_ZN") || !strings.HasSuffix(s, "E") {
		return "", false
	}
	s = s[3 : len(s)-1]
	var ids []string
	for len(s) > 0 {
		n, i := 0, 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && n <= len(s) {
			n = n*10 + int(s[i]-'0')
			i++
		}
		if i == 0 || n == 0 || n > len(s)-i {
			return "", false
		}
		ids = append(ids, s[i:i+n])
		s = s[i+n:]
	}
	if len(ids) < 2 || !isRustHash(ids[len(ids)-1]) {
		return "", false // a C++ nested name
	}
	ids = ids[:len(ids)-1]
	for i, id := range ids {
		u, ok := unescapeRust(id)
		if !ok {
			return "", false
		}
		ids[i] = u
	}
	return strings.Join(ids, "::"), true
}

func isRustHash(id string) bool {
	if len(id) != 17 || id[0] != 'h' {
		return false
	}
	for _, c := range id[1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

var rustEscapes = map[string]string{
	"SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ",",
}

// unescapeRust undoes the legacy escapes: `$LT$` and friends, `$uXX$`
// for any other character, `..` for `::`; a leading `_` only guards an
// escape (`_$u7b$`).
func unescapeRust(id string) (string, bool) {
	if strings.HasPrefix(id, "_$") {
		id = id[1:]
	}
	var b strings.Builder
	for len(id) > 0 {
		switch {
		case id[0] == '$':
			end := strings.IndexByte(id[1:], '$')
			if end < 0 {
				return "", false
			}
			code := id[1 : 1+end]
			id = id[2+end:]
			if r, ok := rustEscapes[code]; ok {
				b.WriteString(r)
				continue
			}
			if len(code) < 2 || code[0] != 'u' {
				return "", false
			}
			c, err := strconv.ParseUint(code[1:], 16, 32)
			if err != nil || c < ' ' || c > unicode.MaxRune {
				return "", false
			}
			b.WriteRune(rune(c))
		case strings.HasPrefix(id, ".."):
			b.WriteString("::")
			id = id[2:]
		default:
			b.WriteByte(id[0])
			id = id[1:]
		}
	}
	return b.String(), true
}

// Pos is a place in the source.
type Pos struct {
	File   string
	Line   int
	Column int // 0 when the line table does not say
}

// String renders the position as file:line:column, or file:line.
func (p Pos) String() string {
	s := p.File + ":" + strconv.Itoa(p.Line)
	if p.Column > 0 {
		s += ":" + strconv.Itoa(p.Column)
	}
	return s
}

// Lines maps module offsets to source positions through a module's DWARF.
type Lines struct {
	d *dwarf.Data
	// code is the module offset of the code section's contents: DWARF in
	// wasm addresses code relative to it.
	code, codeEnd uint64
	units         []unit // compile units, in .debug_info order
}

// unit is a compile unit with its address ranges (none: unknown) and, once
// a lookup has needed it, its line table's reader.
type unit struct {
	e      *dwarf.Entry
	ranges [][2]uint64
	lr     *dwarf.LineReader
	noLR   bool // the unit has no line table, or it does not parse
}

// Load reads the DWARF of the WebAssembly module wasm. It returns nil and no
// error for a module without line information (no .debug_info or
// .debug_line section, or no code section).
func Load(wasm []byte) (l *Lines, err error) {
	// debug/dwarf is meant to return errors, but a hostile module is the
	// normal case here, and a panic would take the worker and the trap's
	// report with it.
	defer func() {
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("reading dwarf: %v", r)
		}
	}()
	secs, code, codeEnd, err := sections(wasm)
	if err != nil || code == 0 || secs["info"] == nil || secs["line"] == nil {
		return nil, err
	}
	d, err := dwarf.New(secs["abbrev"], secs["aranges"], nil, secs["info"], secs["line"], nil, secs["ranges"], secs["str"])
	if err != nil {
		return nil, fmt.Errorf("reading dwarf: %w", err)
	}
	for _, name := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := secs[name]; b != nil {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return nil, fmt.Errorf("reading dwarf section .debug_%s: %w", name, err)
			}
		}
	}
	l = &Lines{d: d, code: code, codeEnd: codeEnd}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("reading dwarf units: %w", err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			rs, _ := d.Ranges(e)
			l.units = append(l.units, unit{e: e, ranges: rs})
		}
		r.SkipChildren()
	}
	return l, nil
}

// At returns the source position of the instruction at module offset off
// (what wasmtime's frames report), if a line table covers it.
func (l *Lines) At(off uint64) (pos Pos, ok bool) {
	if l == nil || off < l.code || off >= l.codeEnd {
		return Pos{}, false
	}
	defer func() {
		if recover() != nil {
			pos, ok = Pos{}, false
		}
	}()
	pc := off - l.code
	for i := range l.units {
		u := &l.units[i]
		if u.noLR || !u.covers(pc) {
			continue
		}
		if u.lr == nil {
			lr, err := l.d.LineReader(u.e)
			if err != nil || lr == nil {
				u.noLR = true
				continue
			}
			u.lr = lr
		}
		e, found := u.row(pc)
		if !found {
			continue
		}
		if e.File == nil || e.Line == 0 { // code the compiler made up
			return Pos{}, false
		}
		return Pos{File: clean(e.File.Name), Line: e.Line, Column: e.Column}, true
	}
	return Pos{}, false
}

// row returns the line table row whose range holds pc. It reads the whole
// table rather than using LineReader.SeekPC, which expects sequences in
// address order: wasm-ld leaves the sequences of functions it dropped in
// place, moved to the tombstone address 0xffffffff (or -2), so a table
// may start above every live address.
func (u *unit) row(pc uint64) (dwarf.LineEntry, bool) {
	u.lr.Reset()
	var prev, e dwarf.LineEntry
	open := false // prev starts a range that e ends
	for u.lr.Next(&e) == nil {
		if open && prev.Address <= pc && pc < e.Address {
			return prev, true
		}
		prev, open = e, !e.EndSequence
	}
	return dwarf.LineEntry{}, false
}

// covers reports whether the unit's address ranges hold pc; a unit that
// lists none is tried anyway.
func (u *unit) covers(pc uint64) bool {
	if len(u.ranges) == 0 {
		return true
	}
	for _, r := range u.ranges {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

// clean shortens the ./x paths that a build with a relative compilation
// directory records.
func clean(p string) string {
	if strings.HasPrefix(p, "./") || strings.Contains(p, "/./") || strings.Contains(p, "//") {
		return path.Clean(p)
	}
	return p
}

// sections walks the module's sections and returns its .debug_* custom
// sections, keyed by the name after ".debug_", and the module offsets of
// the code section's contents and of their end (0 when there is none).
func sections(b []byte) (secs map[string][]byte, code, codeEnd uint64, err error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, 0, 0, ErrMalformed
	}
	secs = map[string][]byte{}
	total := 0
	for i := 8; i < len(b); {
		id := b[i]
		size, n := binary.Uvarint(b[i+1:])
		if n <= 0 || size > uint64(len(b)-(i+1+n)) {
			return nil, 0, 0, fmt.Errorf("%w: section at offset %d", ErrMalformed, i)
		}
		start := i + 1 + n
		body := b[start : start+int(size)]
		i = start + int(size)
		switch id {
		case 10:
			code, codeEnd = uint64(start), uint64(i)
		case 0:
			nameLen, m := binary.Uvarint(body)
			if m <= 0 || nameLen > uint64(len(body)-m) {
				return nil, 0, 0, fmt.Errorf("%w: custom section at offset %d", ErrMalformed, start)
			}
			name := string(body[m : m+int(nameLen)])
			if rest, ok := strings.CutPrefix(name, ".debug_"); ok {
				total += len(body)
				if total > MaxDebugBytes {
					return nil, 0, 0, ErrTooLarge
				}
				secs[rest] = body[m+int(nameLen):]
			}
		}
	}
	return secs, code, codeEnd, nil
}
