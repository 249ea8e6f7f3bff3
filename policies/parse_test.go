package policies

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		// Plain bytes.
		{"0", 0},
		{"1", 1},
		{"1048576", 1 << 20},
		{"512B", 512},
		{"9223372036854775807", math.MaxInt64},

		// Binary units.
		{"1KiB", 1 << 10},
		{"64MiB", 64 << 20},
		{"1GiB", 1 << 30},
		{"4GiB", 4 << 30},
		{"2TiB", 2 << 40},
		{"0MiB", 0},

		// Decimal units.
		{"1kB", 1000},
		{"1KB", 1000},
		{"100MB", 100 * 1000 * 1000},
		{"3GB", 3 * 1000 * 1000 * 1000},
		{"1TB", 1000 * 1000 * 1000 * 1000},

		// Shorthands are binary, in either case.
		{"1K", 1 << 10},
		{"64M", 64 << 20},
		{"2G", 2 << 30},
		{"1T", 1 << 40},
		{"1k", 1 << 10},
		{"64m", 64 << 20},
		{"2g", 2 << 30},
		{"1t", 1 << 40},

		// Fractions.
		{"1.5GiB", 3 << 29},
		{"0.5MiB", 512 << 10},
		{"2.5KB", 2500},
		{".5KiB", 512},
		{"1.5", 1}, // a fraction of a byte is dropped

		// Whitespace around the value and between number and unit.
		{" 64MiB ", 64 << 20},
		{"\t64MiB\n", 64 << 20},
		{"64 MiB", 64 << 20},
		{"1.5 GiB", 3 << 29},

		// The largest value each unit can carry.
		{"8388607TiB", 8388607 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if err != nil {
				t.Fatalf("ParseSize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSize_errors(t *testing.T) {
	// Keyed by a substring of the expected message.
	tests := map[string][]string{
		"want a number with an optional unit": {
			"", "   ", "12XB", "-5", "-5MiB", "MiB", "B", "KiB", "abc",
			"NaN", "NaNMiB", "Inf", "+Inf", "-Inf", "infGiB", "1e400",
			"0x10", "64 Mi B", "64MiBB", "64mib", "5PiB", "1..5MiB",
			// Only plain decimals: no exponents, hex floats or underscores.
			"1e19", "1e18GiB", "1e6", "0x1p20", "1_000",
		},
		"too large": {
			"99999999999TiB", "8388608TiB", "9223372036854775808",
			"18446744073709551615", "8388608.5TiB",
		},
	}
	checkParseErrors(t, "ParseSize", ParseSize, tests)
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1000B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1536B"},
		{64 << 10, "64KiB"},
		{128 << 20, "128MiB"},
		{3 << 29, "1536MiB"},
		{4 << 30, "4GiB"},
		{1 << 40, "1TiB"},
		{1 << 50, "1024TiB"}, // TiB is the largest unit
		{math.MaxInt64, "9223372036854775807B"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatSize(tt.in); got != tt.want {
				t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatSize_roundTrip(t *testing.T) {
	var values []int64
	for shift := 0; shift < 63; shift++ {
		p := int64(1) << shift
		values = append(values, p, p-1, p+1, 3*p/2, 1000*p)
	}
	values = append(values,
		0, 999, 1000, 1000*1000, 1e9, 1e12, 1e15, 1e18,
		DefaultMemory, DefaultMaxOutput, MinMemory, MaxMemory,
		8388607<<40, math.MaxInt64, math.MaxInt64-1023, math.MaxInt64&^1023,
	)
	for _, n := range values {
		if n < 0 {
			continue // 1000*p overflows for large shifts
		}
		s := FormatSize(n)
		got, err := ParseSize(s)
		if err != nil {
			t.Errorf("ParseSize(FormatSize(%d) = %q): %v", n, s, err)
			continue
		}
		if got != n {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d", n, s, got)
		}
	}
}

func TestParseDir(t *testing.T) {
	tests := []struct {
		in   string
		want Dir
	}{
		{"/data", Dir{Host: "/data", Guest: "/data"}},
		{"./data", Dir{Host: "./data", Guest: "./data"}}, // Validate refuses the guest path, not ParseDir
		{"/srv/data:/data", Dir{Host: "/srv/data", Guest: "/data"}},
		{"/srv/data:/data:ro", Dir{Host: "/srv/data", Guest: "/data"}},
		{"/srv/data:/data:rw", Dir{Host: "/srv/data", Guest: "/data", Writable: true}},
		{"/data:ro", Dir{Host: "/data", Guest: "/data"}},
		{"/data:rw", Dir{Host: "/data", Guest: "/data", Writable: true}},
		{"ro", Dir{Host: "ro", Guest: "ro"}},
		{"rw:/rw", Dir{Host: "rw", Guest: "/rw"}},
		{"/a b:/c d:rw", Dir{Host: "/a b", Guest: "/c d", Writable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDir(tt.in)
			if err != nil {
				t.Fatalf("ParseDir(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDir(%q) mismatch (-want +got):\n-%+v\n+%+v", tt.in, tt.want, got)
			}
		})
	}
}

func TestParseDir_errors(t *testing.T) {
	tests := map[string][]string{
		"empty --dir": {""},
		"host and guest paths must not be empty": {
			":", ":/data", "/data:", ":ro", ":rw", ":/data:rw", "/data::ro", "::ro",
		},
		"want HOST:GUEST[:ro|rw]": {
			"::", "/a:/b:/c", "/a:/b:RO", "/a:/b:readonly", "/a:/b:ro:rw", "/a:/b:", "a:b:c:d",
		},
	}
	checkParseErrors(t, "ParseDir", ParseDir, tests)
}

func TestDir_String(t *testing.T) {
	// String renders what ParseDir reads back.
	for _, d := range []Dir{
		{Host: "/srv/data", Guest: "/data"},
		{Host: "/srv/data", Guest: "/data", Writable: true},
		{Host: "/x", Guest: "/x"},
	} {
		s := d.String()
		got, err := ParseDir(s)
		if err != nil {
			t.Errorf("ParseDir(%q): %v", s, err)
			continue
		}
		if got != d {
			t.Errorf("ParseDir(%q) mismatch (-want +got):\n-%+v\n+%+v", s, d, got)
		}
	}
}

// lookupMap returns a lookup function for ParseEnv backed by m, so the tests
// do not depend on the host's environment.
func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseEnv(t *testing.T) {
	host := lookupMap(map[string]string{"HOME": "/home/agent", "EMPTY": "", "lower_case": "x"})
	tests := []struct {
		in   string
		want Env
	}{
		{"KEY=VALUE", Env{Key: "KEY", Value: "VALUE"}},
		{"KEY=", Env{Key: "KEY", Value: ""}},
		{"KEY=a=b", Env{Key: "KEY", Value: "a=b"}},
		{"KEY= spaced ", Env{Key: "KEY", Value: " spaced "}},
		{"HOME=/override", Env{Key: "HOME", Value: "/override"}}, // an explicit value wins over the host's
		{"HOME", Env{Key: "HOME", Value: "/home/agent"}},
		{"EMPTY", Env{Key: "EMPTY", Value: ""}}, // set but empty is still set
		{"lower_case", Env{Key: "lower_case", Value: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEnv(tt.in, host)
			if err != nil {
				t.Fatalf("ParseEnv(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseEnv(%q) mismatch (-want +got):\n-%+v\n+%+v", tt.in, tt.want, got)
			}
		})
	}
}

func TestParseEnv_lookupOnlyWithoutValue(t *testing.T) {
	called := false
	lookup := func(string) (string, bool) { called = true; return "", false }
	if _, err := ParseEnv("KEY=VALUE", lookup); err != nil {
		t.Fatal(err)
	}
	if called {
		t.Error("ParseEnv looked KEY up although its value was given")
	}
}

func TestParseEnv_errors(t *testing.T) {
	host := lookupMap(map[string]string{"HOME": "/home/agent"})
	tests := map[string][]string{
		"KEY is not set on the host": {"KEY"},
		"use --env KEY=VALUE":        {"KEY"},
		"use --env home=VALUE":       {"home"}, // names are case-sensitive
		"empty name":                 {"", "=", "=x", "=KEY=VALUE"},
		"contains '=' or a NUL byte": {"A\x00B", "A\x00B=v", "\x00"},
		`name "A\x00B" contains`:     {"A\x00B=v"},
	}
	checkParseErrors(t, "ParseEnv", func(s string) (Env, error) { return ParseEnv(s, host) }, tests)
}

func TestParseIsolation(t *testing.T) {
	for in, want := range map[string]Isolation{
		"":          IsolationDefault,
		"process":   IsolationProcess,
		"container": IsolationContainer,
	} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseIsolation(in)
			if err != nil {
				t.Fatalf("ParseIsolation(%q): %v", in, err)
			}
			if got != want {
				t.Errorf("ParseIsolation(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestParseIsolation_errors(t *testing.T) {
	checkParseErrors(t, "ParseIsolation", ParseIsolation, map[string][]string{
		"want process or container": {"Process", "CONTAINER", " process", "vm", "none", "default"},
	})
}

// checkParseErrors runs parse, called name, on every input of tests,
// which maps the text an error must contain to the inputs that fail with
// it: each must fail with an error that wraps ErrInvalid and contains the
// text, and return the zero value with it.
func checkParseErrors[T comparable](t *testing.T, name string, parse func(string) (T, error), tests map[string][]string) {
	for want, inputs := range tests {
		for _, in := range inputs {
			t.Run(want+"/"+in, func(t *testing.T) {
				got, err := parse(in)
				if err == nil {
					t.Fatalf("%s(%q) = %+v, want an error containing %q", name, in, got, want)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s(%q) error %v does not wrap ErrInvalid", name, in, err)
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s(%q) error %q, want it to contain %q", name, in, err, want)
				}
				var zero T
				if got != zero {
					t.Errorf("%s(%q) returned %+v with its error, want the zero value", name, in, got)
				}
			})
		}
	}
}

// fuzzParse fuzzes parse, called name, from seeds: every error it returns
// must wrap ErrInvalid, and every value it accepts must pass check.
func fuzzParse[T any](f *testing.F, name string, parse func(string) (T, error), seeds []string, check func(t *testing.T, s string, v T)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s(%q) error %v does not wrap ErrInvalid", name, s, err)
			}
			return
		}
		check(t, s, v)
	})
}

func FuzzParseSize(f *testing.F) {
	fuzzParse(f, "ParseSize", ParseSize, []string{
		"64MiB", "1.5GiB", "100MB", "1048576", "512 KiB", "12XB", "", "-5",
		"99999999999TiB", "NaN", "8388607TiB", "9223372036854775807", "1e18",
	}, func(t *testing.T, s string, n int64) {
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, want >= 0", s, n)
		}
		// Whatever parses, FormatSize renders in a form that parses back.
		fs := FormatSize(n)
		back, err := ParseSize(fs)
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, but ParseSize(FormatSize(%d) = %q) = %d, %v", s, n, n, fs, back, err)
		}
	})
}

func FuzzParseDir(f *testing.F) {
	fuzzParse(f, "ParseDir", ParseDir, []string{
		"/data", "/srv/data:/data", "/srv/data:/data:ro", "/srv/data:/data:rw",
		":/data", "/data:", "/a:/b:/c", "::rw", "",
	}, func(t *testing.T, s string, d Dir) {
		if d.Host == "" || d.Guest == "" {
			t.Fatalf("ParseDir(%q) = %+v: host and guest must be non-empty", s, d)
		}
		if strings.Contains(d.Host, ":") || strings.Contains(d.Guest, ":") {
			t.Fatalf("ParseDir(%q) = %+v: a path kept a separator", s, d)
		}
	})
}
