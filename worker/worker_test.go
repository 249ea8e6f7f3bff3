package worker

import "testing"

func TestFirstLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "trap keeps only its cause",
			in: "error while executing at wasm backtrace:\n" +
				"    0:   0x33 - <unknown>!inner\n" +
				"\n" +
				"Caused by:\n" +
				"    wasm trap: wasm `unreachable` instruction executed",
			want: "wasm trap: wasm `unreachable` instruction executed",
		},
		{
			name: "trap with a deep backtrace",
			in: "error while executing at wasm backtrace:\n" +
				"    0:   0x2a - <unknown>!spin\n" +
				"    1:   0x40 - <unknown>!main\n" +
				"    2:   0x51 - <unknown>!_start\n" +
				"note: using the `WASMTIME_BACKTRACE_DETAILS=1` environment variable may show more debugging information\n" +
				"\n" +
				"Caused by:\n" +
				"    wasm trap: interrupt",
			want: "wasm trap: interrupt",
		},
		{
			name: "compile error joins head and cause",
			in: "failed to parse WebAssembly module\n" +
				"\n" +
				"Caused by:\n" +
				"    unexpected end-of-file (at offset 0x25a9)",
			want: "failed to parse WebAssembly module: unexpected end-of-file (at offset 0x25a9)",
		},
		{
			name: "numbered causes",
			in: "failed to instantiate module\n" +
				"\n" +
				"Caused by:\n" +
				"    0: a\n" +
				"    1: b",
			want: "failed to instantiate module: a: b",
		},
		{
			name: "numbered causes as in the brief",
			in:   "x\n\nCaused by:\n0: a\n 1: b",
			want: "x: a: b",
		},
		{
			name: "numbered causes with colons of their own",
			in: "WebAssembly translation error\n" +
				"\n" +
				"Caused by:\n" +
				"    0: Invalid input WebAssembly code at offset 15: unknown import\n" +
				"    1: type mismatch: expected i32, found i64",
			want: "WebAssembly translation error: Invalid input WebAssembly code at offset 15: unknown import: type mismatch: expected i32, found i64",
		},
		{
			name: "head ending in a colon",
			in:   "incompatible import type for `wasi_snapshot_preview1::fd_write`:\n\nCaused by:\n    function types incompatible",
			want: "incompatible import type for `wasi_snapshot_preview1::fd_write`: function types incompatible",
		},
		{
			name: "plain message",
			in:   "unknown import: `env::host_call` has not been defined",
			want: "unknown import: `env::host_call` has not been defined",
		},
		{
			name: "surrounding whitespace",
			in:   "\n  module was compiled for a different engine  \n",
			want: "module was compiled for a different engine",
		},
		{
			name: "several lines without causes",
			in:   "Exited with i32 exit status 3\nwasm backtrace:\n    0:   0x1a - <unknown>!_start",
			want: "Exited with i32 exit status 3",
		},
		{
			name: "empty",
			in:   "",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstLine(tt.in); got != tt.want {
				t.Errorf("firstLine(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMemoryMargin(t *testing.T) {
	const (
		page  = 64 << 10
		limit = 4 << 20
	)
	tests := []struct {
		limit, want int64
	}{
		// The floor: one page.
		{0, page},
		{1, page},
		{page, page},
		{16 * page, page}, // 1MiB: 1/16 is exactly one page
		// 1/16 in between.
		{16*page + 16, page + 1},
		{2 << 20, 128 << 10},
		{32 << 20, 2 << 20},
		{64<<20 - 16, limit - 1},
		// The cap: 4MiB.
		{64 << 20, limit},
		{64<<20 + 16, limit},
		{128 << 20, limit}, // DefaultMemory
		{4 << 30, limit},   // MaxMemory
	}
	for _, tt := range tests {
		if got := memoryMargin(tt.limit); got != tt.want {
			t.Errorf("memoryMargin(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}

	// Across the whole range a policy allows, the margin stays within its
	// bounds and never shrinks as the limit grows.
	prev := int64(0)
	for l := int64(page); l <= 4<<30; l += 61 * page {
		m := memoryMargin(l)
		if m < page || m > limit {
			t.Fatalf("memoryMargin(%d) = %d, outside %d..%d", l, m, page, limit)
		}
		if m < prev {
			t.Fatalf("memoryMargin(%d) = %d, less than %d for a smaller limit", l, m, prev)
		}
		prev = m
	}
}
