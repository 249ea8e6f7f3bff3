package fleet

import (
	"encoding/json"
	"time"
)

// Size bounds of what crosses the fleet's subjects. The server's payload
// limit is above both, so a bound is hit here with a clear message, never
// by the server dropping a connection.
const (
	maxPayload = 8 << 20
	// maxOutput bounds each of a call's stdout and stderr in its reply.
	maxOutput = 3 << 20
	// maxStatus bounds a node's status message.
	maxStatus = 1 << 20
	// maxRequest bounds a call request.
	maxRequest = 1 << 20
)

// CallRequest asks a node to run one of its installed tools. Argv are the
// tool's command-line arguments (as `agent-ctl TOOL ARGS` takes them),
// parsed by the node against its installed manifest; Arguments are the
// same as a JSON object (as MCP's tools/call takes them). At most one of
// the two. A request with no tool is a presence probe.
type CallRequest struct {
	Tool      string         `json:"tool"`
	Argv      []string       `json:"argv,omitempty"`
	Arguments map[string]any `json:"arguments,omitempty"`
	// Timeout is how long the caller waits, in seconds; the node stops
	// the call when it runs out, since no one would read its answer.
	Timeout float64 `json:"timeoutSeconds,omitempty"`
	// MCP, with Arguments, adds the arguments the tool's MCP face sets
	// (as a local `agent-ctl mcp` call does), for the controller's MCP
	// face, whose schemas leave them out.
	MCP bool `json:"mcp,omitempty"`
	// Describe, in a request with no Tool, asks for that tool's
	// description (CallResult.Info) instead of a call. It rides on a
	// presence probe so that an agent that predates it answers it as one
	// (no Info) and never mistakes it for a call.
	Describe string `json:"describe,omitempty"`
	// ID names the call (the client picks it at random): a node runs a
	// request at most once per ID, and answers a repeat of it (the client
	// asks again when an answer may have been lost, see Client.Call) with
	// the running call's answer or the one it keeps. Empty: no repeats.
	ID string `json:"id,omitempty"`
	// Cancel, in a request with no Tool, asks the node to stop its running
	// call with that ID (see cancel.go). It rides on a presence probe, as
	// Describe does, so that an agent that predates it runs nothing.
	Cancel string `json:"cancel,omitempty"`
}

// probeRequest is a call with no tool: a presence probe, which a node
// answers at once with an empty result, running nothing.
var probeRequest = []byte(`{"tool":""}`)

// CallResult is one node's answer.
type CallResult struct {
	Node string `json:"node"`
	Tool string `json:"tool"`
	// ID is the call's ID (CallRequest.ID), by which the node's audit log
	// names it (callId).
	ID string `json:"id,omitempty"`
	// Version and Digest name what ran.
	Version string `json:"version,omitempty"`
	Digest  string `json:"digest,omitempty"`
	// ExitCode is what `agent-ctl TOOL` would have exited with.
	ExitCode int `json:"exitCode"`
	// Outcome is how the module ended: exited, trapped, timed out, …;
	// empty when it did not start (see Error).
	Outcome string `json:"outcome,omitempty"`
	Stdout  string `json:"stdout"`
	Stderr  string `json:"stderr"`
	// Truncated is true when stdout or stderr was cut at the reply's
	// bound.
	Truncated bool    `json:"truncated,omitempty"`
	Duration  float64 `json:"durationSeconds"`
	// Error says why the call did not run or did not finish: unknown
	// tool, bad arguments, no answer in time, …
	Error string `json:"error,omitempty"`
	// Info answers a Describe request.
	Info *ToolInfo `json:"info,omitempty"`
}

// ToolInfo describes one installed tool of a node, as its MCP face
// publishes it.
type ToolInfo struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version,omitempty"`
	Digest      string `json:"digest"`
	// InputSchema is the manifest's input schema without the parameters
	// the MCP face sets itself.
	InputSchema json.RawMessage `json:"inputSchema"`
}

// Status is what a node publishes about itself.
type Status struct {
	Node    string            `json:"node"`
	Labels  map[string]string `json:"labels,omitempty"`
	Tools   []ToolStatus      `json:"tools"`
	Version string            `json:"agentVersion,omitempty"`
	Time    time.Time         `json:"time"`
	// Interval is how often the node publishes; a status older than a
	// few intervals means the node is gone.
	Interval float64 `json:"intervalSeconds"`
	// Stopped is set in the last status of an agent that stopped.
	Stopped bool `json:"stopped,omitempty"`
	// Killed lists the module digests the node refuses (the fleet's kill
	// list as the node last saw it).
	Killed []string `json:"killed,omitempty"`
	// Deploys is the last deploy of each tool to the node: installed or
	// refused, and why.
	Deploys []DeployResult `json:"deploys,omitempty"`
}

// ToolStatus is one installed tool of a node.
type ToolStatus struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Digest  string `json:"digest,omitempty"`
	Error   string `json:"error,omitempty"`
}
