package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// The module's stdio on Windows.
//
// Windows has no /proc/self/fd, so a worker cannot name an inherited pipe
// by path, and wasmtime takes the module's stdin only as a path. So the
// supervisor creates three named pipes for each worker, under a random
// prefix it passes in the worker's environment as StdioPipesEnv. Each pipe
// takes one client, opens for this user only and refuses remote clients;
// the supervisor checks that the client is the worker's process before it
// reads or writes a byte. The worker opens stdout and stderr when it
// starts and writes the module's output to them; wasmtime opens stdin by
// name when the module runs.

// StdioPipesEnv names the worker's environment variable that holds the
// prefix of its stdio pipes' names (Windows only).
const StdioPipesEnv = "AGENT_CTL_STDIO_PIPES"

// pipePrefix starts every agent-ctl pipe name; 32 lower-case hex digits
// follow it.
const pipePrefix = `\\.\pipe\agent-ctl-`

const pipeRandomDigits = 32

// NewPipePrefix returns a fresh prefix for one worker's stdio pipes, with
// 128 random bits: nobody can guess it, and a pipe by its name cannot
// already exist.
func NewPipePrefix() (string, error) {
	var b [pipeRandomDigits / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return pipePrefix + hex.EncodeToString(b[:]), nil
}

// ValidPipePrefix reports whether s is a prefix that NewPipePrefix could
// have returned. The worker refuses any other, so that nothing but an
// agent-ctl pipe can become the module's stdio.
func ValidPipePrefix(s string) bool {
	digits, ok := strings.CutPrefix(s, pipePrefix)
	if !ok || len(digits) != pipeRandomDigits {
		return false
	}
	for _, c := range digits {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// PipeName names the pipe of one of the module's stdio descriptors
// (FDStdin, FDStdout, FDStderr) under prefix; any other descriptor has
// none.
func PipeName(prefix string, fd int) string {
	switch fd {
	case FDStdin:
		return prefix + "-stdin"
	case FDStdout:
		return prefix + "-stdout"
	case FDStderr:
		return prefix + "-stderr"
	}
	return ""
}

// PipeSDDL is the security descriptor of the stdio pipes in SDDL: full
// access for the user whose SID is given, and for nobody else (a protected
// DACL inherits no other entry).
func PipeSDDL(userSID string) string { return "D:P(A;;GA;;;" + userSID + ")" }
