package worker

/*
#include <stddef.h>
#include <stdint.h>

typedef struct wasi_config_t wasi_config_t;

// output.c
void agentctl_set_output(wasi_config_t *config, int is_stderr, uintptr_t writer);
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/agent-ctl/agent-ctl/worker/cache"
)

// The module's stdout and stderr as a writer instead of a path.
//
// wasmtime opens an output path with create and truncate; a Windows named
// pipe refuses truncation (ERROR_INVALID_PARAMETER), so on Windows the
// worker opens its output pipes itself and gives wasmtime a callback that
// writes to them: wasmtime's C API has one (wasi_config_set_stdout_custom),
// wasmtime-go v39 does not expose it. setOutput calls it on the
// configuration's C pointer, which wasmtime-go keeps unexported as the only
// field of WasiConfig; wasiConfigLayout checks that layout before the
// pointer is ever read, so a wasmtime-go that changed it fails the call
// instead of corrupting memory. Linux uses paths (/proc/self/fd/N) and does
// not come here; the tests run this path on Linux too.

// wasiConfigLayout is nil when wasmtime.WasiConfig is one C pointer.
var wasiConfigLayout = func() error {
	t := reflect.TypeFor[wasmtime.WasiConfig]()
	if t.NumField() != 1 || t.Field(0).Name != "_ptr" || t.Field(0).Type.Kind() != reflect.Pointer || t.Field(0).Offset != 0 {
		return fmt.Errorf("wasmtime.WasiConfig of this wasmtime-go (%s) is not a single C pointer: custom module output is not available", cache.EngineVersion)
	}
	return nil
}()

// liveOutputs counts writers wasmtime still holds (tests check that each
// is released with its store).
var liveOutputs atomic.Int64

// setOutput directs the module's stdout, or its stderr, to w. Each write of
// the module is one Write call, made on the thread that runs the module; a
// failed Write fails the module's write with the error's errno when it has
// one.
func setOutput(cfg *wasmtime.WasiConfig, stderr bool, w io.Writer) error {
	if wasiConfigLayout != nil {
		return wasiConfigLayout
	}
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(cfg))
	if ptr == nil {
		return errors.New("WASI configuration already given to a store")
	}
	isStderr := C.int(0)
	if stderr {
		isStderr = 1
	}
	h := cgo.NewHandle(w)
	liveOutputs.Add(1)
	C.agentctl_set_output((*C.wasi_config_t)(ptr), isStderr, C.uintptr_t(h))
	runtime.KeepAlive(cfg)
	return nil
}

//export agentctlOutputWrite
func agentctlOutputWrite(h C.uintptr_t, buf *C.uchar, n C.size_t) C.ptrdiff_t {
	w := cgo.Handle(h).Value().(io.Writer)
	if _, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))); err != nil {
		// wasmtime reads a negative result as an OS error code.
		return -C.ptrdiff_t(outputErrno(err))
	}
	return C.ptrdiff_t(n)
}

//export agentctlOutputRelease
func agentctlOutputRelease(h C.uintptr_t) {
	cgo.Handle(h).Delete()
	liveOutputs.Add(-1)
}

// outputErrno is the OS error code a failed write reports to wasmtime:
// the error's own (EPIPE, ERROR_NO_DATA, …) or, for an error without one,
// ioErrno.
func outputErrno(err error) int {
	var errno syscall.Errno
	// Go's Windows Errno values from 1<<29 up are its own inventions,
	// which the OS (and so wasmtime) would not know.
	if errors.As(err, &errno) && errno > 0 && errno < 1<<29 {
		return int(errno)
	}
	return int(ioErrno)
}
