// Package audit is agent-ctl's audit log: one JSON line per call under
// $AGENTCTL_HOME/audit, each carrying the SHA-256 of the line before it, so
// that an edited, removed or reordered line breaks the chain and Verify
// names it. Writers in many processes append safely (an flock around each
// append, which also keeps the chain consistent), each line is fsync'd
// before the call's result is returned, and files rotate by size with the
// chain continuing across them.
//
//	l, err := audit.Open(filepath.Join(home, "audit"), nil)
//	if err := l.Check(); err != nil { /* refuse the call: it could not be recorded */ }
//	err = l.Append(&audit.Record{Caller: "alice", Frontend: "run", Tool: "hello"})
//
// The package imports nothing of agent-ctl's: the supervisor fills in the
// Record.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Record is one call as the audit log keeps it. Environment values and
// parameters whose schema says "writeOnly" never reach it: the caller
// redacts them (see Redacted).
type Record struct {
	// Seq numbers the lines of the log from 1, across rotated files; the
	// writer sets it.
	Seq int64 `json:"seq"`
	// Time is when the call started (UTC).
	Time time.Time `json:"time"`
	// Caller is who asked: the OS user on the CLI, the client's name from
	// MCP initialize over stdio, the token's name over HTTP.
	Caller string `json:"caller"`
	// Frontend is what the call came through: "run", "cli" (an installed
	// tool on the command line), "mcp-stdio" or "mcp-http".
	Frontend string `json:"frontend"`
	// CallID is the front-end's ID of the call, when it has one (the
	// fleet's call ID).
	CallID string `json:"callId,omitempty"`
	// Tool is the tool's (or module's) name and Version its manifest
	// version; empty for `agent-ctl run`.
	Tool    string `json:"tool"`
	Version string `json:"version,omitempty"`
	// Module is the module file's path and Digest the hex SHA-256 of its
	// bytes; Digest is empty when the call was refused before the module
	// was read.
	Module string `json:"module"`
	Digest string `json:"digest,omitempty"`
	// Args is the module's argv after its name (for `run`); Params the
	// tool's arguments by name (installed tools), writeOnly ones redacted.
	// An installed tool's call records Params only: its argv holds the
	// same values unredacted.
	Args   []string       `json:"args,omitempty"`
	Params map[string]any `json:"params,omitempty"`
	// Grants are what the call was granted.
	Grants Grants `json:"grants"`
	// Limits are the limits in force.
	Limits Limits `json:"limits"`
	// Isolation names the walls: "container" or "process".
	Isolation string `json:"isolation,omitempty"`
	// DurationMS is the call's wall-clock time in milliseconds.
	DurationMS float64 `json:"durationMs"`
	// Outcome is how the call ended: "exited", "trapped", "timed out",
	// "memory limit", "output limit", "cancelled", or "error" when
	// agent-ctl refused or failed it (Error says why). A line that is not
	// a call has an outcome of its own: "killed", a fleet agent told that
	// the module Digest is killed fleet-wide (Error gives the reason and
	// the calls it stopped).
	Outcome string `json:"outcome"`
	// ExitCode is agent-ctl's exit code for the call (the module's own for
	// "exited").
	ExitCode int `json:"exitCode"`
	// Trap is the trap's kind; LimitHit the limit that stopped the module
	// ("time", "memory", "output") and Limit its value.
	Trap     string `json:"trap,omitempty"`
	LimitHit string `json:"limitHit,omitempty"`
	Limit    string `json:"limit,omitempty"`
	// Error is agent-ctl's error when Outcome is "error", and why the call
	// was stopped when Outcome is "cancelled" and a reason was given (a
	// fleet kill, the controller's cancel).
	Error string `json:"error,omitempty"`
	// Torn is set by the writer when the log ended in a torn line (a crash
	// mid-write) that it closed before writing this one: the fragment's
	// SHA-256. The chain skips the fragment.
	Torn string `json:"torn,omitempty"`
	// Prev is the hex SHA-256 of the line before this one (without its
	// newline); empty for the first line of the log.
	Prev string `json:"prev"`
}

// Grants are a call's grants. Environment variables appear by name only.
type Grants struct {
	Dirs []Dir    `json:"dirs,omitempty"`
	Env  []string `json:"env,omitempty"`
	Net  []Net    `json:"net,omitempty"`
}

// Dir is a granted directory and its mode, "ro" or "rw".
type Dir struct {
	Host  string `json:"host"`
	Guest string `json:"guest"`
	Mode  string `json:"mode"`
}

// Net is a network grant: a CIDR or host name and its ports.
type Net struct {
	Host  string `json:"host"`
	Ports []int  `json:"ports"`
}

// Limits are a call's limits, rendered as people write them.
type Limits struct {
	Memory    string `json:"memory,omitempty"`
	Timeout   string `json:"timeout,omitempty"`
	MaxOutput string `json:"maxOutput,omitempty"`
}

// Redacted is what the log, logs and describe show instead of a value
// that must not be shown back.
const Redacted = "[redacted]"

// lineHash is the chain's hash of a line, without its newline.
func lineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}
