package supervisor

import (
	"strings"
	"testing"
)

// TestPanicScan: the panic line is found however stderr is cut into
// writes, and counts only when the call ended as that panic ends.
func TestPanicScan(t *testing.T) {
	const (
		rustOld = "thread 'main' panicked at 'attempt to divide by zero', rtrap.rs:8:5\n" +
			"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
		rustNew = "thread 'main' panicked at src/main.rs:8:5:\nattempt to divide by zero\n" +
			"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
		goPanic = "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t./gopanic.go:14 +0xf\n"
	)
	trapped := Result{Outcome: Trapped, Trap: "unreachable"}
	exit2 := Result{Outcome: Exited, ExitCode: 2}
	for _, tc := range []struct {
		name   string
		stderr string
		res    Result
		want   string
	}{
		{"rust before 1.73", rustOld, trapped, "panicked at 'attempt to divide by zero', rtrap.rs:8:5"},
		{"rust 1.73 on", rustNew, trapped, "panicked at 'attempt to divide by zero', src/main.rs:8:5"},
		{"rust, another thread", "thread '<unnamed>' panicked at 'boom', src/lib.rs:1:1\n", trapped, "panicked at 'boom', src/lib.rs:1:1"},
		{"rust, CRLF", "thread 'main' panicked at 'x', a.rs:1:1\r\n", trapped, "panicked at 'x', a.rs:1:1"},
		{"rust after other output", "working\nstill working\n" + rustOld, trapped, "panicked at 'attempt to divide by zero', rtrap.rs:8:5"},
		{"go", goPanic, exit2, "panicked: runtime error: index out of range [3] with length 3"},
		{"go, first panic kept", "panic: first\n\tpanic: second\n", exit2, "panicked: first"},
		// The panic line must end how such a panic ends.
		{"rust panic, then exit 0", rustOld, Result{Outcome: Exited}, ""},
		{"rust panic, then another trap", rustOld, Result{Outcome: Trapped, Trap: "out-of-bounds memory access"}, ""},
		{"rust panic, then the time limit", rustOld, Result{Outcome: TimedOut}, ""},
		{"go panic, then exit 1", goPanic, Result{Outcome: Exited, ExitCode: 1}, ""},
		{"go panic, then a trap", goPanic, trapped, ""},
		// Not a panic line.
		{"quoted, not at a line start", "log: panic: nope\nsaid thread 'main' panicked at 'x'\n", exit2, ""},
		{"rust location without its message line", "thread 'main' panicked at src/main.rs:8:5:", trapped, ""},
		{"nothing on stderr", "", trapped, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and cut at every byte.
			for _, size := range []int{len(tc.stderr) + 1, 1, 7} {
				var s panicScan
				for b := []byte(tc.stderr); len(b) > 0; {
					n := min(size, len(b))
					if w, err := s.Write(b[:n]); w != n || err != nil {
						t.Fatalf("Write = %d, %v", w, err)
					}
					b = b[n:]
				}
				res := tc.res
				s.apply(&res)
				if res.Panic != tc.want {
					t.Errorf("writes of %d bytes: Panic %q, want %q", size, res.Panic, tc.want)
				}
			}
		})
	}
}

// TestPanicScan_long: a line past panicLineMax is quoted cut; a panic
// followed by more than panicTail bytes is no longer seen, and the cut
// line at the start of the tail is not read.
func TestPanicScan_long(t *testing.T) {
	long := strings.Repeat("x", 3*panicLineMax)
	var s panicScan
	s.Write([]byte(long + "\npanic: " + long + "\n"))
	res := Result{Outcome: Exited, ExitCode: 2}
	s.apply(&res)
	if want := "panicked: " + long[:panicLineMax-len("panic: ")]; res.Panic != want {
		t.Errorf("Panic %q (%d bytes), want %d bytes", res.Panic, len(res.Panic), len(want))
	}

	s = panicScan{}
	s.Write([]byte("panic: early\n" + strings.Repeat("y", panicTail) + "\n"))
	res = Result{Outcome: Exited, ExitCode: 2}
	s.apply(&res)
	if res.Panic != "" {
		t.Errorf("Panic %q from before the tail", res.Panic)
	}

	// The tail starts inside a line that reads like a panic's end.
	s = panicScan{}
	s.Write([]byte(strings.Repeat("z", 100) + "panic: cut\n" + strings.Repeat("w\n", (panicTail-11)/2) + "w"))
	res = Result{Outcome: Exited, ExitCode: 2}
	s.apply(&res)
	if res.Panic != "" {
		t.Errorf("Panic %q from a cut line", res.Panic)
	}
}

// BenchmarkPanicScan is what watching for a panic adds to forwarding a
// module's stderr, per 32 KiB chunk (the forwarder's read size) of
// 64-byte log lines.
func BenchmarkPanicScan(b *testing.B) {
	chunk := []byte(strings.Repeat(strings.Repeat("l", 63)+"\n", 512))
	b.SetBytes(int64(len(chunk)))
	var s panicScan
	for b.Loop() {
		s.Write(chunk)
	}
}
