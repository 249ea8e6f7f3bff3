package worker

// How a run ended: the result's classification, the trap kinds and the
// backtrace with source lines.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
	"github.com/agent-ctl/agent-ctl/worker/symbols"
)

// classify turns what _start returned into a Result.
func (h *Host) classify(res *protocol.Result, err error, inst *wasmtime.Instance, store *wasmtime.Store) {
	if inst != nil {
		if ext := inst.GetExport(store, "memory"); ext != nil && ext.Memory() != nil {
			res.MemoryBytes = int64(ext.Memory().DataSize(store))
		}
	}
	var trap *wasmtime.Trap
	var werr *wasmtime.Error
	switch {
	case err == nil:
		res.Outcome = protocol.Exited
	case errors.As(err, &werr):
		if code, ok := werr.ExitStatus(); ok {
			res.Outcome, res.ExitCode = protocol.Exited, code
		} else {
			res.Outcome, res.Trap, res.Message = protocol.Trapped, "error", firstLine(werr.Error())
		}
	case errors.As(err, &trap):
		res.Outcome, res.Trap, res.Message = protocol.Trapped, trapKind(trap), firstLine(trap.Message())
		if c := trap.Code(); c != nil && *c == wasmtime.Interrupt {
			res.Outcome = protocol.TimedOut
		}
		// Lines cost a read and a parse of the module (milliseconds, more
		// for a large one): a call past its deadline, the time limit's
		// own trap included, has no time left for them, and the
		// supervisor's backstop would end it while they were read.
		var lines *symbols.Lines
		if time.Now().Before(h.deadline) {
			lines = h.lines()
		}
		res.Frames = frames(trap, lines)
	default:
		res.Outcome, res.Trap, res.Message = protocol.Trapped, "error", firstLine(err.Error())
	}
	// The store limiter makes memory.grow fail quietly with -1; the module
	// then usually traps or exits non-zero. wasmtime's C API cannot tell us
	// that a grow was refused, so a failure with memory at the limit (within
	// one typical allocation) is reported as the limit being hit.
	failed := res.Outcome == protocol.Trapped || (res.Outcome == protocol.Exited && res.ExitCode != 0)
	if failed && h.atMemoryLimit(res.MemoryBytes) {
		res.Outcome = protocol.MemoryLimit
	}
}

// atMemoryLimit reports whether a memory of size bytes could not have grown
// by a typical allocation: it is within a page of the limit, or it grew past
// its initial size to within memoryMargin of the limit.
func (h *Host) atMemoryLimit(size int64) bool {
	limit := h.req.Memory
	if size == 0 {
		return false
	}
	return size+65536 > limit || (size > h.initialMemory && size >= limit-memoryMargin(limit))
}

// memoryMargin is how close to the limit counts as "at the limit": 1/16 of
// it, between one page and 4 MiB.
func memoryMargin(limit int64) int64 {
	m := limit / 16
	if m < 65536 {
		m = 65536
	}
	if m > 4<<20 {
		m = 4 << 20
	}
	return m
}

var trapNames = map[wasmtime.TrapCode]string{
	wasmtime.StackOverflow:          "stack overflow",
	wasmtime.MemoryOutOfBounds:      "out-of-bounds memory access",
	wasmtime.HeapMisaligned:         "misaligned memory access",
	wasmtime.TableOutOfBounds:       "out-of-bounds table access",
	wasmtime.IndirectCallToNull:     "indirect call to null",
	wasmtime.BadSignature:           "indirect call signature mismatch",
	wasmtime.IntegerOverflow:        "integer overflow",
	wasmtime.IntegerDivisionByZero:  "integer division by zero",
	wasmtime.BadConversionToInteger: "invalid conversion to integer",
	wasmtime.UnreachableCodeReached: "unreachable",
	wasmtime.Interrupt:              "interrupt",
	wasmtime.OutOfFuel:              "out of fuel",
}

func trapKind(t *wasmtime.Trap) string {
	if c := t.Code(); c != nil {
		if n, ok := trapNames[*c]; ok {
			return n
		}
	}
	return "trap"
}

// frames renders a trap's backtrace, innermost first, folding runs of the
// same frame (deep recursion) into one line and keeping at most maxFrames.
// Names are demangled; lines, when not nil, adds each frame's source
// position.
func frames(t *wasmtime.Trap, lines *symbols.Lines) []string {
	fs := t.Frames()
	var out []string
	for i := 0; i < len(fs); {
		f := fs[i]
		name := fmt.Sprintf("func[%d]", f.FuncIndex())
		if n := f.FuncName(); n != nil && *n != "" {
			name = symbols.Demangle(*n)
		}
		line := name
		if off := f.ModuleOffset(); off != ^uint(0) {
			if pos, ok := lines.At(uint64(off)); ok {
				line += " (" + pos.String() + ")"
			}
			line += fmt.Sprintf(" @ 0x%x", off)
		}
		j := i + 1
		for j < len(fs) && fs[j].FuncIndex() == f.FuncIndex() && fs[j].ModuleOffset() == f.ModuleOffset() {
			j++
		}
		if j-i > 1 {
			line += fmt.Sprintf(" (repeated %d times)", j-i)
		}
		if len(out) == maxFrames {
			out = append(out, fmt.Sprintf("… %d more frames", len(fs)-i))
			break
		}
		out = append(out, line)
		i = j
	}
	return out
}

// lines reads the module's DWARF line tables for a trap's backtrace. It
// runs only on the trap path: the module is read again (a cached module's
// bytes were never read) and checked against the digest the supervisor
// took, so that lines never come from another file. A module without
// debug information, or whose debug information does not parse, gets nil:
// its frames show names and offsets only.
func (h *Host) lines() *symbols.Lines {
	path := h.req.ModulePath
	if h.req.ModuleFD > 0 {
		path = "/proc/self/fd/" + strconv.Itoa(h.req.ModuleFD)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(wasm)
	if hex.EncodeToString(sum[:]) != h.req.Digest {
		return nil
	}
	l, err := symbols.Load(wasm)
	if err != nil {
		return nil
	}
	return l
}

// firstLine shortens one of wasmtime's multi-line messages to one line:
// its first line plus the causes it lists, or for a trap just the cause (the
// backtrace travels separately).
func firstLine(s string) string {
	head, causes, found := strings.Cut(strings.TrimSpace(s), "Caused by:")
	if i := strings.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	head = strings.TrimSpace(head)
	if !found {
		return head
	}
	var parts []string
	if head != "" && !strings.HasPrefix(head, "error while executing at wasm backtrace") {
		parts = append(parts, strings.TrimSuffix(head, ":"))
	}
	for _, l := range strings.Split(causes, "\n") {
		l = strings.TrimSpace(l)
		// Causes are listed as "0: …", "1: …" when there are several.
		if n, rest, ok := strings.Cut(l, ": "); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			l = rest
		}
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, ": ")
}
