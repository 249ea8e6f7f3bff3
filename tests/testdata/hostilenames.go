//go:build ignore

// hostilenames writes two modules whose names carry terminal escape
// sequences, as a hostile module's would, for the tests that check that
// agent-ctl shows them escaped (modules/untrusted):
//
//   - hostiletrap.wasm: _start calls a function whose name in the name
//     section is ESC[2J (clear screen), OSC 0 (window title), a carriage
//     return and U+202E (right-to-left override); that function traps.
//   - hostileimport.wasm: imports env::ESC[2J and agent_ctl::OSC 52 (write
//     the clipboard); agent-ctl refuses to run it.
//
// wat2wasm 1.0.32 has no syntax for such names (WAT identifiers exclude
// control characters, and it ignores @custom), so the bytes are written
// here, section by section. Run by the Makefile: go run hostilenames.go.
package main

import (
	"bytes"
	"encoding/binary"
	"log"
	"os"
)

// Names with the sequences in them.
const (
	TrapName   = "\x1b[2J\x1b]0;pwned\x07evil\r\u202e"
	ImportEnv  = "\x1b[2J"
	ImportHost = "\x1b]52;c;cHduZWQ=\x07"
)

// uleb is n in unsigned LEB128, which is what encoding/binary's uvarint is.
func uleb(n int) []byte { return binary.AppendUvarint(nil, uint64(n)) }

func name(s string) []byte { return append(uleb(len(s)), s...) }

// vec is a vector of n items already encoded one after another.
func vec(n int, items ...[]byte) []byte {
	b := uleb(n)
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(len(body))...), body...)
}

func module(sections ...[]byte) []byte {
	return bytes.Join(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, sections...), nil)
}

var (
	typeVoid = section(1, vec(1, []byte{0x60, 0x00, 0x00})) // type 0: () -> ()
	memory   = section(5, vec(1, []byte{0x00, 0x01}))       // one memory, 1 page
)

func exports(start int) []byte {
	return section(7, vec(2,
		name("memory"), []byte{0x02, 0x00},
		name("_start"), append([]byte{0x00}, uleb(start)...)))
}

// body is a function body without locals.
func body(code ...byte) []byte {
	b := append([]byte{0x00}, code...)
	return append(uleb(len(b)), b...)
}

func hostileTrap() []byte {
	names := vec(2,
		append(uleb(0), name("_start")...),
		append(uleb(1), name(TrapName)...))
	return module(
		typeVoid,
		section(3, vec(2, []byte{0x00}, []byte{0x00})), // two functions of type 0
		memory,
		exports(0),
		section(10, vec(2,
			body(0x10, 0x01, 0x0b), // _start: call 1
			body(0x00, 0x0b))),     // TrapName: unreachable
		section(0, append(name("name"), append([]byte{0x01}, append(uleb(len(names)), names...)...)...)),
	)
}

func hostileImport() []byte {
	return module(
		typeVoid,
		section(2, vec(2,
			append(append(name("env"), name(ImportEnv)...), 0x00, 0x00),
			append(append(name("agent_ctl"), name(ImportHost)...), 0x00, 0x00))),
		section(3, vec(1, []byte{0x00})),
		memory,
		exports(2), // after the two imported functions
		section(10, vec(1, body(0x10, 0x00, 0x0b))), // _start: call env's import
	)
}

func main() {
	for file, b := range map[string][]byte{"hostiletrap.wasm": hostileTrap(), "hostileimport.wasm": hostileImport()} {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
