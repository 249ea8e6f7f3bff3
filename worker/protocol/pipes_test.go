package protocol

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewPipePrefix(t *testing.T) {
	format := regexp.MustCompile(`^\\\\\.\\pipe\\agent-ctl-[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 1000 {
		p, err := NewPipePrefix()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(p) {
			t.Fatalf("NewPipePrefix() = %q, want \\\\.\\pipe\\agent-ctl- and 32 hex digits", p)
		}
		if !ValidPipePrefix(p) {
			t.Fatalf("ValidPipePrefix(%q) = false for a prefix NewPipePrefix returned", p)
		}
		if seen[p] {
			t.Fatalf("NewPipePrefix returned %q twice", p)
		}
		seen[p] = true
	}
}

func TestPipeName(t *testing.T) {
	const prefix = `\\.\pipe\agent-ctl-0123456789abcdef0123456789abcdef`
	for fd, want := range map[int]string{
		FDStdin:  prefix + "-stdin",
		FDStdout: prefix + "-stdout",
		FDStderr: prefix + "-stderr",
		0:        "",
		1:        "",
		6:        "",
	} {
		if got := PipeName(prefix, fd); got != want {
			t.Errorf("PipeName(prefix, %d) = %q, want %q", fd, got, want)
		}
	}
}

func TestValidPipePrefix(t *testing.T) {
	const digits = "0123456789abcdef0123456789abcdef"
	tests := map[string]bool{
		`\\.\pipe\agent-ctl-` + digits:                      true,
		`\\.\pipe\agent-ctl-` + strings.ToUpper(digits):     false,
		`\\.\pipe\agent-ctl-` + digits[1:]:                  false,
		`\\.\pipe\agent-ctl-` + digits + "0":                false,
		`\\.\pipe\agent-ctl-` + digits + "-stdout":          false,
		`\\.\pipe\agent-ctl-` + digits[2:] + `\.`:           false,
		`\\.\pipe\other-` + digits:                          false,
		`\\server\pipe\agent-ctl-` + digits:                 false,
		`\\?\pipe\agent-ctl-` + digits:                      false,
		`C:\Users\x\agent-ctl-` + digits:                    false,
		"":                                                  false,
		`\\.\pipe\agent-ctl-` + digits[:31] + "g":           false,
		`\\.\pipe\agent-ctl-` + digits[:30] + "\u00e9":      false,
		"/proc/self/fd/4":                                   false,
		`\\.\pipe\agent-ctl-` + digits[:16] + `\..\` + "ab": false,
	}
	for s, want := range tests {
		if got := ValidPipePrefix(s); got != want {
			t.Errorf("ValidPipePrefix(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPipeSDDL(t *testing.T) {
	const sid = "S-1-5-21-1004336348-1177238915-682003330-512"
	if got, want := PipeSDDL(sid), "D:P(A;;GA;;;"+sid+")"; got != want {
		t.Errorf("PipeSDDL = %q, want %q", got, want)
	}
}
