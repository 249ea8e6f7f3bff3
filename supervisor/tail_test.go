package supervisor

import (
	"strings"
	"testing"
)

// TestTailBuffer: Go runtime crash headers are recognised wherever the
// writes split them, and a crash's message never carries the dump.
func TestTailBuffer(t *testing.T) {
	dump := strings.Repeat("goroutine 7 [running]:\nmain.f()\n\t/src/main.go:12 +0x1d\n", 300)
	tests := []struct {
		name, stderr, crash, suffix string
	}{
		{"signal in cgo code", "SIGSEGV: segmentation violation\nPC=0x7f m=7 sigcode=2 addr=0x7f\nsignal arrived during cgo execution\n\n" + dump,
			"SIGSEGV: segmentation violation", "the worker crashed (SIGSEGV: segmentation violation;"},
		{"signal in Go code", "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a]\n\n" + dump,
			"SIGSEGV: segmentation violation", "the worker crashed (SIGSEGV: segmentation violation;"},
		{"SIGILL", "SIGILL: illegal instruction\nPC=0x1\n" + dump, "SIGILL: illegal instruction", "crashed (SIGILL"},
		{"panic", "panic: boom\n\n" + dump, "panic: boom", "the worker crashed (panic: boom;"},
		{"fatal error", "fatal error: out of memory\n\n" + dump, "fatal error: out of memory", "crashed (fatal error: out of memory;"},
		{"no crash", "jail: mounting /data: permission denied\n", "", "; worker said: jail: mounting /data: permission denied"},
		{"nothing", "", "", ""},
		{"signal mentioned mid-line", "a module said SIGSEGV: segmentation violation\n", "", "; worker said: a module said"},
		{"header in a long line", strings.Repeat("x", 300) + "SIGSEGV: segmentation violation\n", "", "worker said"},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 3, 17, 4096, 1 << 20} {
			var tb tailBuffer
			for s := tt.stderr; s != ""; {
				n := min(size, len(s))
				tb.Write([]byte(s[:n]))
				s = s[n:]
			}
			if got := tb.crashed(); got != tt.crash {
				t.Errorf("%s, written %d bytes at a time: crashed() = %q, want %q", tt.name, size, got, tt.crash)
			}
			suffix := tb.suffix()
			if !strings.Contains(suffix, tt.suffix) || (tt.suffix == "" && suffix != "") {
				t.Errorf("%s, written %d bytes at a time: suffix %q, want it to contain %q", tt.name, size, suffix, tt.suffix)
			}
			if tt.crash != "" && (strings.Contains(suffix, "goroutine") || len(suffix) > 200) {
				t.Errorf("%s: suffix carries the dump: %q", tt.name, suffix)
			}
		}
	}
}
