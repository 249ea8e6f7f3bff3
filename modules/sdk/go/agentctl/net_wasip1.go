//go:build wasip1

package agentctl

import "unsafe"

// The agent_ctl host functions, docs/host-functions.md. Pointers address the
// module's memory; Go's collector does not move objects, and each pointer is
// live for the whole call.

//go:wasmimport agent_ctl net_connect
//go:noescape
func netConnect(host unsafe.Pointer, hostLen uint32, port int32, timeoutMS int32, handleOut unsafe.Pointer) int32

//go:wasmimport agent_ctl net_send
//go:noescape
func netSend(handle int32, buf unsafe.Pointer, n uint32, sentOut unsafe.Pointer) int32

//go:wasmimport agent_ctl net_recv
//go:noescape
func netRecv(handle int32, buf unsafe.Pointer, n uint32, timeoutMS int32, recvOut unsafe.Pointer) int32

//go:wasmimport agent_ctl net_close
func netClose(handle int32) int32

//go:wasmimport agent_ctl net_probe
//go:noescape
func netProbe(targets unsafe.Pointer, targetsLen uint32, timeoutMS int32, results unsafe.Pointer, resultsLen uint32) int32
