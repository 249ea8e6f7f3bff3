package symbols

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

func TestDemangle(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Rust, legacy mangling (rustc's default): the hash goes.
		{"_ZN5rtrap6divide17h415405028e637989E", "rtrap::divide"},
		{"_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h16ce68681517b8a4E", "std::rt::lang_start::{{closure}}"},
		// A leading underscore belongs to the identifier.
		{"_ZN3std10sys_common9backtrace26__rust_end_short_backtrace17h42ab4cf7df7f372fE", "std::sys_common::backtrace::__rust_end_short_backtrace"},
		{"_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE",
			"core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>"},
		{"_ZN5rtrap6divide17h415405028e637989E.llvm.1234", "rtrap::divide"},
		// Rust, v0 mangling (-C symbol-mangling-version=v0), names taken
		// from rtrap.rs built that way.
		{"_RNvCsek0ja229IoD_5rtrap6divide", "rtrap::divide"},
		{"_RINvMs1_NtCs247YrygNUAC_4core3fmtNtB6_10ArgumentV111new_displaylECsek0ja229IoD_5rtrap",
			"<core::fmt::ArgumentV1>::new_display::<i32>"},
		// C++ (Itanium): without the parameter list.
		{"_Z6divideii", "divide"},
		{"_ZN3foo3barEv", "foo::bar"},
		{"_ZNK3foo3BarIiE3getEv", "foo::Bar<int>::get"},
		// A C++ nested name that looks like Rust's but has no hash.
		{"_ZN3foo3barE", "foo::bar"},
		// Not mangled, or not validly: unchanged.
		{"divide", "divide"},
		{"main.main", "main.main"},
		{"_start", "_start"},
		{"_Zgarbage", "_Zgarbage"},
		{"_RNv", "_RNv"},
		{"_ZN99rtrap17h415405028e637989E", "_ZN99rtrap17h415405028e637989E"},
		{"_ZN5rtrap$u0$17h415405028e637989E", "_ZN5rtrap$u0$17h415405028e637989E"},
		{"", ""},
	} {
		if got := Demangle(tc.in); got != tc.want {
			t.Errorf("Demangle(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// section encodes one wasm section.
func section(id byte, body []byte) []byte {
	b := append([]byte{id}, binary.AppendUvarint(nil, uint64(len(body)))...)
	return append(b, body...)
}

func custom(name string, data []byte) []byte {
	body := append(binary.AppendUvarint(nil, uint64(len(name))), name...)
	return section(0, append(body, data...))
}

func module(secs ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range secs {
		b = append(b, s...)
	}
	return b
}

// tooLarge is a module whose one debug section is a byte above
// MaxDebugBytes, made in one allocation.
func tooLarge() []byte {
	head := module(custom(".debug_info", nil))
	b := make([]byte, len(head)+5+MaxDebugBytes+1)
	copy(b, head[:9])
	size := binary.AppendUvarint(nil, uint64(len(head)-10+MaxDebugBytes+1))
	n := copy(b[9:], size)
	copy(b[9+n:], head[10:]) // the name
	return b[:9+n+len(head)-10+MaxDebugBytes+1]
}

// TestLoad_hostile: a module is hostile input. Malformed sections and
// debug sections that do not parse are errors, never a panic; a module
// without debug information has no lines and no error.
func TestLoad_hostile(t *testing.T) {
	code := section(10, []byte{0})
	for _, tc := range []struct {
		name string
		wasm []byte
		err  error  // errors.Is, when set
		msg  string // substring, when set
	}{
		{name: "no debug information", wasm: module(code)},
		{name: "debug information without a code section", wasm: module(custom(".debug_info", []byte{1}), custom(".debug_line", []byte{1}))},
		{name: "only a line table", wasm: module(code, custom(".debug_line", []byte{1}))},
		{name: "not wasm", wasm: []byte("this is not a webassembly module\n"), err: ErrMalformed},
		{name: "empty", wasm: nil, err: ErrMalformed},
		{name: "section longer than the module", wasm: append(module(code), 0, 0xff, 0xff, 0x03), err: ErrMalformed},
		{name: "section size cut short", wasm: append(module(code), 0, 0x80), err: ErrMalformed},
		{name: "custom section name longer than the section", wasm: module(section(0, []byte{9, 'a'})), err: ErrMalformed},
		{name: "garbage dwarf", wasm: module(code, custom(".debug_abbrev", []byte{1, 2, 3}),
			custom(".debug_info", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 5, 0, 1, 4}), custom(".debug_line", []byte{1})),
			msg: "reading dwarf"},
		{name: "debug sections above the bound", wasm: tooLarge(), err: ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Load(tc.wasm)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("Load: %v, want %v", err, tc.err)
			case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
				t.Fatalf("Load: %v, want an error containing %q", err, tc.msg)
			case tc.err == nil && tc.msg == "" && err != nil:
				t.Fatalf("Load: %v, want no error", err)
			}
			if l != nil {
				t.Fatalf("Load gave lines for a module without usable debug information")
			}
			if _, ok := l.At(100); ok { // nil Lines: no position, no panic
				t.Fatal("nil Lines gave a position")
			}
		})
	}
}

// TestLines_fixture maps every code offset of linetrap.wasm (clang -g):
// the trapping division is on line 12 of linetrap.c, offsets before the
// code section have no position, and no offset panics.
func TestLines_fixture(t *testing.T) {
	wasm, err := os.ReadFile(fixtures.Path("linetrap.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(wasm)
	if err != nil || l == nil {
		t.Fatalf("Load = %v, %v; want lines", l, err)
	}
	if _, ok := l.At(0); ok {
		t.Error("offset 0 (the module header) has a position")
	}
	if _, ok := l.At(l.code - 1); ok {
		t.Error("the offset before the code section has a position")
	}
	if _, ok := l.At(l.codeEnd); ok {
		t.Error("the offset after the code section has a position")
	}
	lines := map[string]bool{}
	for off := l.code; off < l.codeEnd && !lines["linetrap.c:12:11"]; off++ {
		if pos, ok := l.At(off); ok && pos.File == "linetrap.c" {
			lines[pos.String()] = true
		}
	}
	for off := l.code; off < l.codeEnd+16; off += 97 { // the rest: no panic
		l.At(off)
	}
	if !lines["linetrap.c:12:11"] {
		t.Errorf("no offset maps to the division at linetrap.c:12:11; linetrap.c positions: %v", lines)
	}
}

// FuzzLoad: whatever the bytes, Load and At return; they never panic.
func FuzzLoad(f *testing.F) {
	if wasm, err := os.ReadFile(fixtures.Path("linetrap.wasm")); err == nil {
		f.Add(wasm)
	}
	f.Add(module(section(10, []byte{0}), custom(".debug_info", []byte{1}), custom(".debug_line", []byte{1})))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		l, err := Load(wasm)
		if err != nil {
			return
		}
		for _, off := range []uint64{0, 8, 100, 0x2f0, uint64(len(wasm))} {
			l.At(off)
		}
	})
}

// BenchmarkTrapPath is what a trap's backtrace costs beyond what it cost
// before: loading the module's DWARF, and one lookup per frame. It runs
// only after a trap (see docs/run.md).
func BenchmarkTrapPath(b *testing.B) {
	for _, tc := range []struct {
		module string
		offs   []uint64 // frames of the fixture's trap
	}{
		{"linetrap.wasm", []uint64{0x2f0, 0x24a, 0x2762, 0x30c, 0x1d7, 0x6389}},
		{"rtrap.wasm", []uint64{0x9824, 0x5e09, 0x5dcd, 0x71fb, 0x716a, 0x5504, 0xfcc7, 0xfc7a, 0x29f9, 0x2ab1,
			0xe92, 0x1253, 0x261d, 0x305b, 0x25e3, 0x2b06, 0x447, 0x12cc9}},
		{"hello.wasm", []uint64{0x100}}, // stripped: the section walk alone
	} {
		wasm, err := os.ReadFile(fixtures.Path(tc.module))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.module, func(b *testing.B) {
			for b.Loop() {
				l, err := Load(wasm)
				if err != nil {
					b.Fatal(err)
				}
				for _, off := range tc.offs {
					l.At(off)
				}
			}
		})
	}
}
