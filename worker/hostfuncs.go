package worker

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// hostModule is agent-ctl's own import namespace (docs/host-functions.md).
const hostModule = "agent_ctl"

// hostFuncs are the functions of hostModule: name → number of i32
// parameters. Each returns one i32, an errno.
var hostFuncs = map[string]int{
	"net_connect": 5,
	"net_send":    4,
	"net_recv":    5,
	"net_close":   1,
	"net_probe":   5,
	"file_open":   6,
	"file_read":   4,
	"file_write":  4,
	"file_close":  1,
}

// checkHostImport refuses an agent_ctl import that is not one of
// hostFuncs with its exact signature.
func checkHostImport(name string, ty *wasmtime.ExternType) error {
	n, ok := hostFuncs[name]
	if !ok {
		return invalid("module imports %s::%s, which agent-ctl does not provide (see docs/host-functions.md)", hostModule, name)
	}
	ft := ty.FuncType()
	want := "(" + repeat("i32", n) + ") -> (i32)"
	if ft == nil || signature(ft) != want {
		return invalid("module imports %s::%s with the wrong type: want func %s", hostModule, name, want)
	}
	return nil
}

func signature(ft *wasmtime.FuncType) string {
	kinds := func(vs []*wasmtime.ValType) string {
		var b []byte
		for i, v := range vs {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, v.String()...)
		}
		return string(b)
	}
	return "(" + kinds(ft.Params()) + ") -> (" + kinds(ft.Results()) + ")"
}

func repeat(s string, n int) string {
	var b []byte
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return string(b)
}

// denyAll is the network of a call granted none: the same answers the
// supervisor's gate gives with no grants, without a round trip.
type denyAll struct{}

func (denyAll) Connect(string, int, time.Duration) (int32, protocol.Errno) { return 0, protocol.Denied }
func (denyAll) Send(int32, []byte) (int, protocol.Errno)                   { return 0, protocol.BadHandle }
func (denyAll) Recv(int32, int, time.Duration) ([]byte, protocol.Errno) {
	return nil, protocol.BadHandle
}
func (denyAll) Close(int32) protocol.Errno { return protocol.BadHandle }
func (denyAll) Probe(targets string, _ time.Duration) ([]byte, protocol.Errno) {
	n := countTargets(targets)
	return bytes.Repeat([]byte{byte(protocol.Denied)}, n), protocol.OK
}

// countTargets counts the non-empty lines of a probe's target list.
func countTargets(s string) int {
	n := 0
	for line := range bytes.SplitSeq([]byte(s), []byte{'\n'}) {
		if len(line) > 0 {
			n++
		}
	}
	return n
}

// guestMem reads and writes the calling module's exported memory with
// bounds checks: a bad pointer is an INVALID errno, never a host fault.
type guestMem struct{ data []byte }

func memoryOf(c *wasmtime.Caller) (guestMem, bool) {
	ext := c.GetExport("memory")
	if ext == nil || ext.Memory() == nil {
		return guestMem{}, false
	}
	return guestMem{data: ext.Memory().UnsafeData(c)}, true
}

func (m guestMem) slice(ptr, n int32) ([]byte, bool) {
	p, l := uint64(uint32(ptr)), uint64(uint32(n))
	if p+l > uint64(len(m.data)) {
		return nil, false
	}
	return m.data[p : p+l : p+l], true
}

func (m guestMem) putU32(ptr int32, v uint32) bool {
	b, ok := m.slice(ptr, 4)
	if ok {
		binary.LittleEndian.PutUint32(b, v)
	}
	return ok
}

// defineHostFuncs links the agent_ctl functions to the network current
// returns while a call runs, bounding every wait by the call's deadline.
func defineHostFuncs(linker *wasmtime.Linker, current func() (protocol.Network, time.Time)) error {
	wait := func(deadline time.Time, ms int32) time.Duration {
		d := protocol.DefaultNetWait
		if ms > 0 {
			d = time.Duration(ms) * time.Millisecond
		}
		d = min(d, protocol.MaxNetWait, time.Until(deadline))
		return max(d, 0)
	}
	errno := func(e protocol.Errno) int32 { return int32(e) }
	defs := map[string]any{
		"net_connect": func(c *wasmtime.Caller, hostPtr, hostLen, port, ms, out int32) int32 {
			m, ok := memoryOf(c)
			if !ok || hostLen <= 0 || hostLen > protocol.MaxHostnameText || port < 1 || port > 65535 {
				return errno(protocol.Invalid)
			}
			host, ok := m.slice(hostPtr, hostLen)
			if _, okOut := m.slice(out, 4); !ok || !okOut {
				return errno(protocol.Invalid)
			}
			network, deadline := current()
			h, e := network.Connect(string(host), int(port), wait(deadline, ms))
			if e == protocol.OK {
				// Memory cannot have moved: the module is paused in this call.
				m.putU32(out, uint32(h))
			}
			return errno(e)
		},
		"net_send": func(c *wasmtime.Caller, h, buf, n, out int32) int32 {
			m, ok := memoryOf(c)
			if !ok || n < 0 {
				return errno(protocol.Invalid)
			}
			data, ok := m.slice(buf, min(n, protocol.MaxIO))
			if _, okOut := m.slice(out, 4); !ok || !okOut {
				return errno(protocol.Invalid)
			}
			network, _ := current()
			sent, e := network.Send(h, data)
			if e == protocol.OK {
				m.putU32(out, uint32(sent))
			}
			return errno(e)
		},
		"net_recv": func(c *wasmtime.Caller, h, buf, n, ms, out int32) int32 {
			m, ok := memoryOf(c)
			if !ok || n < 0 {
				return errno(protocol.Invalid)
			}
			dst, ok := m.slice(buf, min(n, protocol.MaxIO))
			if _, okOut := m.slice(out, 4); !ok || !okOut || len(dst) == 0 {
				return errno(protocol.Invalid)
			}
			network, deadline := current()
			data, e := network.Recv(h, len(dst), wait(deadline, ms))
			if e == protocol.OK {
				if len(data) > len(dst) { // a supervisor never sends more than asked
					return errno(protocol.IOError)
				}
				// Memory may not be re-read: a module cannot run while it waits,
				// so m still describes it.
				copy(dst, data)
				m.putU32(out, uint32(len(data)))
			}
			return errno(e)
		},
		"net_close": func(h int32) int32 {
			network, _ := current()
			return errno(network.Close(h))
		},
		"net_probe": func(c *wasmtime.Caller, tp, tl, ms, rp, rl int32) int32 {
			m, ok := memoryOf(c)
			if !ok || tl < 0 || tl > protocol.MaxProbeText || rl < 0 {
				return errno(protocol.Invalid)
			}
			targets, ok := m.slice(tp, tl)
			results, okRes := m.slice(rp, rl)
			if !ok || !okRes {
				return errno(protocol.Invalid)
			}
			n := countTargets(string(targets))
			if n > protocol.MaxProbes {
				return errno(protocol.Limit)
			}
			if len(results) < n {
				return errno(protocol.Invalid)
			}
			network, deadline := current()
			st, e := network.Probe(string(targets), wait(deadline, ms))
			if e == protocol.OK {
				if len(st) != n {
					return errno(protocol.IOError)
				}
				copy(results, st)
			}
			return errno(e)
		},
	}
	for name, fn := range defs {
		if err := linker.FuncWrap(hostModule, name, fn); err != nil {
			return err
		}
	}
	return nil
}
