package wasmfile_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// leb encodes n as unsigned LEB128.
func leb(n uint64) []byte {
	var out []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, c|0x80)
			continue
		}
		return append(out, c)
	}
}

func name(s string) []byte { return append(leb(uint64(len(s))), s...) }

func section(id byte, body ...[]byte) []byte {
	var b []byte
	for _, x := range body {
		b = append(b, x...)
	}
	return append(append([]byte{id}, leb(uint64(len(b)))...), b...)
}

// module assembles a module from sections.
func module(sections ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

var (
	// types: 0 (i32, i32, i32, i32) -> (i32); 1 () -> (); 2 (i32) -> (i32)
	typeSec = section(1, leb(3),
		[]byte{0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f},
		[]byte{0x60, 0, 0},
		[]byte{0x60, 1, 0x7f, 1, 0x7f})
	// gcTypeSec holds a recursive group (the GC proposal's form) with
	// the function type (i32, i32, i32, i32) -> (i32) in it.
	gcTypeSec = section(1, leb(2),
		[]byte{0x4e, 1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f},
		[]byte{0x60, 0, 0})
	startFunc = section(3, leb(1), leb(1))
	memSec    = section(5, leb(1), []byte{0x00, 1})
	exportSec = section(7, leb(2), name("_start"), []byte{0x00}, leb(0), name("memory"), []byte{0x02}, leb(0))
)

func importSec(imps ...[]byte) []byte {
	return section(2, append([][]byte{leb(uint64(len(imps)))}, imps...)...)
}

func funcImport(mod, field string, typ uint64) []byte {
	return append(append(name(mod), name(field)...), append([]byte{0x00}, leb(typ)...)...)
}

func TestCheckInterface(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm []byte
		want []string // one substring per problem, in order; none: valid
	}{
		{"fd_write", module(typeSec, importSec(funcImport("wasi_snapshot_preview1", "fd_write", 0)), startFunc, memSec, exportSec), nil},
		{"agent_ctl net_close", module(typeSec, importSec(funcImport("agent_ctl", "net_close", 2)), startFunc, memSec, exportSec), nil},
		{"other namespace", module(typeSec, importSec(funcImport("env", "evil", 1)), startFunc, memSec, exportSec),
			[]string{"imports env::evil (func), which agent-ctl does not provide"}},
		{"not a WASI function", module(typeSec, importSec(funcImport("wasi_snapshot_preview1", "sock_open", 2)), startFunc, memSec, exportSec),
			[]string{"sock_open, which is not a WASI preview-1 function"}},
		{"wrong WASI type", module(typeSec, importSec(funcImport("wasi_snapshot_preview1", "fd_write", 2)), startFunc, memSec, exportSec),
			[]string{"fd_write with type (i32) -> (i32): want (i32, i32, i32, i32) -> (i32)"}},
		{"unknown host function", module(typeSec, importSec(funcImport("agent_ctl", "exec", 0)), startFunc, memSec, exportSec),
			[]string{"agent_ctl::exec, which agent-ctl does not provide"}},
		{"memory import", module(typeSec, importSec(append(append(name("wasi_snapshot_preview1"), name("fd_write")...), 0x02, 0x00, 1)), startFunc, exportSec),
			[]string{"fd_write as a memory"}},
		{"memory64", module(typeSec, startFunc, section(5, leb(1), []byte{0x04, 1}), exportSec),
			[]string{"64-bit memory"}},
		{"no _start", module(typeSec, startFunc, memSec, section(7, leb(1), name("_initialize"), []byte{0x00}, leb(0))),
			[]string{"exports no _start function"}},
		{"GC types: signatures left to the compile", module(gcTypeSec, importSec(funcImport("wasi_snapshot_preview1", "fd_write", 0)), startFunc, memSec, exportSec), nil},
		{"GC types: names still checked", module(gcTypeSec, importSec(funcImport("wasi_snapshot_preview1", "fd_wrote", 0)), startFunc, memSec, exportSec),
			[]string{"fd_wrote, which is not a WASI preview-1 function"}},
		{"two problems", module(typeSec, importSec(funcImport("env", "a", 1), funcImport("env", "b", 1)), startFunc, memSec, exportSec),
			[]string{"env::a", "env::b"}},
		// The module's names, escaped: a terminal never sees their ESC, BEL or CR.
		{"escape sequences in names", module(typeSec, importSec(funcImport("env\x1b]0;t\x07", "\x1b[2J", 1), funcImport("agent_ctl", "\x1b]52;c;aGk=\x07\r", 0),
			funcImport("wasi_snapshot_preview1", "fd_write\u202e", 0)), startFunc, memSec, exportSec),
			[]string{`imports env\x1b]0;t\a::\x1b[2J (func)`, `agent_ctl::\x1b]52;c;aGk=\a\r, which`, `fd_write\u202e, which is not`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := wasmfile.ReadInterface(tc.wasm)
			if err != nil {
				t.Fatal(err)
			}
			got := wasmfile.CheckInterface(in)
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if strings.ContainsFunc(got[i], func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u202e' }) {
					t.Errorf("problem %d: %q holds a control character", i, got[i])
				}
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("problem %d: %q, want it to contain %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestCheckInterface_realModules reads the modules the toolchains build
// (C, Rust, Go, AssemblyScript, WAT): each that runs must pass, so the
// signatures in the table are those real modules import; each fixture the
// worker refuses at link must fail here too.
func TestCheckInterface_realModules(t *testing.T) {
	// The modules built on the Go SDK import only the agent_ctl functions
	// their own code calls (sorted): linking the SDK for its flag parser must
	// not pull in the network or file functions, and update-config, which
	// calls none, must still run on a plain WASI host.
	goSDKHost := map[string][]string{
		"update-config.wasm": nil,
		"logs.wasm":          {"file_close", "file_open", "file_read"},
		"fetch.wasm":         {"net_close", "net_connect", "net_recv", "net_send"},
		"example.wasm":       {"net_close", "net_connect", "net_probe", "net_recv", "net_send"},
	}
	repo := filepath.Join(fixtures.Dir(), "..", "..")
	for _, tc := range []struct {
		path string
		want string // "" valid
	}{
		{fixtures.Path("hello.wasm"), ""},
		{fixtures.Path("fsops.wasm"), ""},
		{fixtures.Path("net.wasm"), ""},
		{fixtures.Path("hostfile.wasm"), ""},
		{filepath.Join(repo, "modules/hello/hello-rust.wasm"), ""},
		{filepath.Join(repo, "modules/hello/hello-go.wasm"), ""},
		{filepath.Join(repo, "modules/hello/hello-as.wasm"), ""},
		{filepath.Join(repo, "modules/fetch/fetch.wasm"), ""},
		{filepath.Join(repo, "modules/scan/scan.wasm"), ""},
		{filepath.Join(repo, "modules/logs/logs.wasm"), ""},
		{filepath.Join(repo, "modules/update-config/update-config.wasm"), ""},
		{filepath.Join(repo, "modules/sdk/go/example/example.wasm"), ""},
		{fixtures.Path("imports.wasm"), "env::evil_host_call"},
		{fixtures.Path("hostsig.wasm"), "agent_ctl::net_connect with type (i32) -> (i32)"},
		{fixtures.Path("hostimports.wasm"), "agent_ctl::exec"},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			b, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			in, err := wasmfile.ReadInterface(b)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(wasmfile.CheckInterface(in), "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
			if want, ok := goSDKHost[filepath.Base(tc.path)]; ok {
				var host []string
				for _, imp := range in.Imports {
					if imp.Module == "agent_ctl" {
						host = append(host, imp.Name)
					}
				}
				slices.Sort(host)
				if !slices.Equal(host, want) {
					t.Errorf("agent_ctl imports %q, want %q", host, want)
				}
			}
		})
	}
}

func TestReadInterface_malformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("hello world"), "not a WebAssembly module"},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), "component"},
		{"section past the end", module([]byte{2, 100, 1}), "runs past the end"},
		{"truncated name", module(section(2, leb(1), leb(50), []byte("ab"))), "truncated"},
		{"type index out of range", module(typeSec, importSec(funcImport("wasi_snapshot_preview1", "fd_write", 9))), "names type 9 of 3"},
		{"endless LEB", module([]byte{2, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wasmfile.ReadInterface(tc.wasm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzReadInterface: hostile bytes give an error, never a panic or a hang.
func FuzzReadInterface(f *testing.F) {
	f.Add(module(typeSec, importSec(funcImport("wasi_snapshot_preview1", "fd_write", 0)), startFunc, memSec, exportSec))
	for _, p := range []string{"hello.wasm", "imports.wasm", "truncated.wasm"} {
		if b, err := os.ReadFile(fixtures.Path(p)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if in, err := wasmfile.ReadInterface(b); err == nil {
			wasmfile.CheckInterface(in)
		}
	})
}
