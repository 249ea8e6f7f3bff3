//go:build !wasip1

package agentctl

import "unsafe"

// Outside WebAssembly (native unit tests) there is no agent-ctl host: every
// connection is denied, as it would be for a tool granted no network.

func netConnect(host unsafe.Pointer, hostLen uint32, port, timeoutMS int32, handleOut unsafe.Pointer) int32 {
	return int32(ErrDenied)
}

func netSend(handle int32, buf unsafe.Pointer, n uint32, sentOut unsafe.Pointer) int32 {
	return int32(ErrBadHandle)
}

func netRecv(handle int32, buf unsafe.Pointer, n uint32, timeoutMS int32, recvOut unsafe.Pointer) int32 {
	return int32(ErrBadHandle)
}

func netClose(handle int32) int32 { return int32(ErrBadHandle) }

// netProbe answers denied for each target; probeCalls counts its calls.
func netProbe(targets unsafe.Pointer, targetsLen uint32, timeoutMS int32, results unsafe.Pointer, resultsLen uint32) int32 {
	probeCalls++
	text := unsafe.Slice((*byte)(targets), targetsLen)
	n := 0
	for i, c := range text {
		if c == '\n' || i == len(text)-1 {
			n++
		}
	}
	if int(resultsLen) < n {
		return int32(ErrInvalid)
	}
	res := unsafe.Slice((*byte)(results), resultsLen)
	for i := range n {
		res[i] = byte(Denied)
	}
	return 0
}
