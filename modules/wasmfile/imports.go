package wasmfile

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agent-ctl/agent-ctl/modules/untrusted"
)

// Import is one import of a module: the namespace and name it is imported
// by, and its kind ("func", "table", "memory", "global" or "tag"). Type is
// a function's signature as "(i32, i64) -> (i32)"; empty for other kinds,
// and for a function whose type ReadInterface could not read (GC types).
type Import struct {
	Module, Name, Kind, Type string
}

// shown is the import as messages name it, module::name, each escaped
// (untrusted.Show): both are the module's bytes.
func (imp Import) shown() string {
	return untrusted.Show(imp.Module) + "::" + untrusted.Show(imp.Name)
}

// Export is one export of a module: its name and kind, as Import's.
type Export struct {
	Name, Kind string
}

// Interface is what a module imports and exports, read from its sections
// without compiling it.
type Interface struct {
	Imports []Import
	Exports []Export
	// Memory64 is set when a memory the module defines or imports is
	// 64-bit, which agent-ctl does not run.
	Memory64 bool
}

// ReadInterface reads the imports and exports of the core module b
// (CheckHeader must have accepted it). It reads the type, import, memory and
// export sections and skips the others by their sizes; a section that runs
// past its end or past the file is an error. It is a reader for the checks
// `agent-ctl validate` makes without a WebAssembly engine: the worker's
// compile remains the full validation.
func ReadInterface(b []byte) (*Interface, error) {
	if err := CheckHeader(b); err != nil {
		return nil, err
	}
	r := &reader{b: b, off: 8}
	var types []string
	typesKnown := true
	out := &Interface{}
	for !r.done() {
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, r.err
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d at offset %d runs past the end of the file", id, r.off)
		}
		s := &reader{b: r.b[:r.off+int(size)], off: r.off}
		r.off += int(size)
		switch id {
		case 1:
			types = s.types()
			typesKnown = types != nil || s.err != nil || s.off == len(s.b)
		case 2:
			out.Imports = s.imports(types, typesKnown, out)
		case 5:
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				if s.limits() {
					out.Memory64 = true
				}
			}
		case 7:
			out.Exports = s.exports()
		default:
			continue
		}
		if s.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, s.err)
		}
	}
	return out, nil
}

var errTruncated = errors.New("truncated")

// reader decodes the binary format: LEB128 numbers, names and vectors.
// The first error sticks, and every read after it returns zero.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("at offset %d: %w", r.off, err)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); shift < bits+7; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if bits < 64 && v>>bits != 0 {
				r.fail(errors.New("integer too large"))
				return 0
			}
			return v
		}
	}
	r.fail(errors.New("integer representation too long"))
	return 0
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(errTruncated)
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// valTypes names the value types a signature can hold; reference types of
// the GC proposal (0x63, 0x64 and a heap type) are read as "ref".
var valTypes = map[byte]string{0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref"}

func (r *reader) valType() string {
	c := r.byte()
	if t, ok := valTypes[c]; ok {
		return t
	}
	if c == 0x63 || c == 0x64 {
		r.uleb(64) // the heap type: a signed index or an abstract type
		return "ref"
	}
	r.fail(fmt.Errorf("unknown value type 0x%02x", c))
	return ""
}

// types reads the type section: each function type's signature. It
// returns nil, and no error, for a section that uses the GC proposal's
// forms (recursive groups, subtypes, structs, arrays), whose indices this
// reader does not follow: the signatures are then left to the compile.
func (r *reader) types() []string {
	var out []string
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if r.off < len(r.b) && r.b[r.off] != 0x60 {
			return nil
		}
		r.byte()
		vec := func() string {
			var ts []string
			for m := r.u32(); m > 0 && r.err == nil; m-- {
				ts = append(ts, r.valType())
			}
			return "(" + strings.Join(ts, ", ") + ")"
		}
		params := vec()
		out = append(out, params+" -> "+vec())
	}
	return out
}

// limits reads a table's or a memory's limits and reports whether they
// are 64-bit.
func (r *reader) limits() (is64 bool) {
	flags := r.byte()
	bits := uint(32)
	if flags&0x04 != 0 {
		bits, is64 = 64, true
	}
	r.uleb(bits)
	if flags&0x01 != 0 {
		r.uleb(bits)
	}
	return is64
}

var kinds = []string{"func", "table", "memory", "global", "tag"}

func kindName(k byte) string {
	if int(k) < len(kinds) {
		return kinds[k]
	}
	return fmt.Sprintf("kind 0x%02x", k)
}

func (r *reader) imports(types []string, typesKnown bool, in *Interface) []Import {
	var out []Import
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		imp := Import{Module: r.name(), Name: r.name()}
		k := r.byte()
		imp.Kind = kindName(k)
		switch k {
		case 0: // func: a type index
			i := r.u32()
			if r.err == nil && typesKnown {
				if int(i) >= len(types) {
					r.fail(fmt.Errorf("import %s names type %d of %d", imp.shown(), i, len(types)))
				} else {
					imp.Type = types[i]
				}
			}
		case 1: // table: a reference type and limits
			r.valType()
			r.limits()
		case 2: // memory: limits
			if r.limits() {
				in.Memory64 = true
			}
		case 3: // global: a value type and mutability
			r.valType()
			r.byte()
		case 4: // tag: an attribute and a type index
			r.byte()
			r.u32()
		default:
			r.fail(fmt.Errorf("import %s of unknown kind 0x%02x", imp.shown(), k))
		}
		out = append(out, imp)
	}
	return out
}

func (r *reader) exports() []Export {
	var out []Export
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		e := Export{Name: r.name(), Kind: kindName(r.byte())}
		r.u32()
		out = append(out, e)
	}
	return out
}

// WASI is the namespace of WASI preview 1, and Host agent-ctl's own
// (docs/host-functions.md): the only two a module may import from.
const (
	WASI = "wasi_snapshot_preview1"
	Host = "agent_ctl"
)

// wasiFuncs are the functions of WASI preview 1 with their signatures, as
// wasi-libc imports them (and proc_raise, which wasmtime still provides).
var wasiFuncs = map[string]string{
	"args_get": "(i32, i32) -> (i32)", "args_sizes_get": "(i32, i32) -> (i32)",
	"environ_get": "(i32, i32) -> (i32)", "environ_sizes_get": "(i32, i32) -> (i32)",
	"clock_res_get": "(i32, i32) -> (i32)", "clock_time_get": "(i32, i64, i32) -> (i32)",
	"fd_advise": "(i32, i64, i64, i32) -> (i32)", "fd_allocate": "(i32, i64, i64) -> (i32)",
	"fd_close": "(i32) -> (i32)", "fd_datasync": "(i32) -> (i32)",
	"fd_fdstat_get": "(i32, i32) -> (i32)", "fd_fdstat_set_flags": "(i32, i32) -> (i32)",
	"fd_fdstat_set_rights": "(i32, i64, i64) -> (i32)", "fd_filestat_get": "(i32, i32) -> (i32)",
	"fd_filestat_set_size": "(i32, i64) -> (i32)", "fd_filestat_set_times": "(i32, i64, i64, i32) -> (i32)",
	"fd_pread": "(i32, i32, i32, i64, i32) -> (i32)", "fd_prestat_get": "(i32, i32) -> (i32)",
	"fd_prestat_dir_name": "(i32, i32, i32) -> (i32)", "fd_pwrite": "(i32, i32, i32, i64, i32) -> (i32)",
	"fd_read": "(i32, i32, i32, i32) -> (i32)", "fd_readdir": "(i32, i32, i32, i64, i32) -> (i32)",
	"fd_renumber": "(i32, i32) -> (i32)", "fd_seek": "(i32, i64, i32, i32) -> (i32)",
	"fd_sync": "(i32) -> (i32)", "fd_tell": "(i32, i32) -> (i32)",
	"fd_write": "(i32, i32, i32, i32) -> (i32)", "path_create_directory": "(i32, i32, i32) -> (i32)",
	"path_filestat_get": "(i32, i32, i32, i32, i32) -> (i32)", "path_filestat_set_times": "(i32, i32, i32, i32, i64, i64, i32) -> (i32)",
	"path_link": "(i32, i32, i32, i32, i32, i32, i32) -> (i32)", "path_open": "(i32, i32, i32, i32, i32, i64, i64, i32, i32) -> (i32)",
	"path_readlink": "(i32, i32, i32, i32, i32, i32) -> (i32)", "path_remove_directory": "(i32, i32, i32) -> (i32)",
	"path_rename": "(i32, i32, i32, i32, i32, i32) -> (i32)", "path_symlink": "(i32, i32, i32, i32, i32) -> (i32)",
	"path_unlink_file": "(i32, i32, i32) -> (i32)", "poll_oneoff": "(i32, i32, i32, i32) -> (i32)",
	"proc_exit": "(i32) -> ()", "proc_raise": "(i32) -> (i32)", "sched_yield": "() -> (i32)",
	"random_get": "(i32, i32) -> (i32)", "sock_accept": "(i32, i32, i32) -> (i32)",
	"sock_recv": "(i32, i32, i32, i32, i32, i32) -> (i32)", "sock_send": "(i32, i32, i32, i32, i32) -> (i32)",
	"sock_shutdown": "(i32, i32) -> (i32)",
}

// hostFuncs are agent_ctl's functions with their signatures
// (docs/host-functions.md; the worker's hostFuncs are the same).
var hostFuncs = map[string]string{
	"net_connect": "(i32, i32, i32, i32, i32) -> (i32)",
	"net_send":    "(i32, i32, i32, i32) -> (i32)",
	"net_recv":    "(i32, i32, i32, i32, i32) -> (i32)",
	"net_close":   "(i32) -> (i32)",
	"net_probe":   "(i32, i32, i32, i32, i32) -> (i32)",
	"file_open":   "(i32, i32, i32, i32, i32, i32) -> (i32)",
	"file_read":   "(i32, i32, i32, i32) -> (i32)",
	"file_write":  "(i32, i32, i32, i32) -> (i32)",
	"file_close":  "(i32) -> (i32)",
}

// CheckInterface lists, one a line, why the worker would refuse to run a
// module with this interface: an import agent-ctl does not provide or of
// another type than it provides, 64-bit memory, no _start function. None
// means it would link.
func CheckInterface(in *Interface) []string {
	var out []string
	for _, imp := range in.Imports {
		var table map[string]string
		switch imp.Module {
		case WASI:
			table = wasiFuncs
		case Host:
			table = hostFuncs
		default:
			out = append(out, fmt.Sprintf("imports %s (%s), which agent-ctl does not provide (only %s and %s)", imp.shown(), imp.Kind, WASI, Host))
			continue
		}
		want, ok := table[imp.Name]
		switch {
		case !ok && imp.Module == WASI:
			out = append(out, fmt.Sprintf("imports %s, which is not a WASI preview-1 function", imp.shown()))
		case !ok:
			out = append(out, fmt.Sprintf("imports %s, which agent-ctl does not provide (see docs/host-functions.md)", imp.shown()))
		case imp.Kind != "func":
			out = append(out, fmt.Sprintf("imports %s as a %s: it is a function %s", imp.shown(), imp.Kind, want))
		case imp.Type != want && imp.Type != "":
			out = append(out, fmt.Sprintf("imports %s with type %s: want %s", imp.shown(), imp.Type, want))
		}
	}
	if in.Memory64 {
		out = append(out, "uses 64-bit memory, which agent-ctl does not run")
	}
	if !slices.Contains(in.Exports, Export{Name: "_start", Kind: "func"}) {
		out = append(out, "is not a WASI command: it exports no _start function (reactor modules are not supported)")
	}
	return out
}
