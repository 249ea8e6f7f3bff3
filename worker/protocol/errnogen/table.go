package main

// errno is one error code of the agent_ctl host functions
// (docs/host-functions.md). The table below is the only place they are
// written by hand: every language's constants, names and messages are
// generated from it.
type errno struct {
	// Name is the errno's name in docs/host-functions.md; the Rust and
	// AssemblyScript constant, and the C one after AGENTCTL_.
	Name string
	// Camel names it in Go: the SDK's Err<Camel>, the worker's <Camel>
	// (Proto where that differs).
	Camel, Proto string
	// Doc says when a host function returns it.
	Doc string
	// GoNote adds what only the Go SDK does with it.
	GoNote string
	// Text is the lower-case phrase of messages (Error, strerror, text).
	Text string
}

// errnos are the errnos by value: errnos[i] is errno i.
var errnos = []errno{
	{Name: "OK", Camel: "OK", Doc: "success", Text: "success"},
	{Name: "DENIED", Camel: "Denied", Doc: "the operator's grants do not allow it: that host and port (or no network at all), a directory not granted, writing below a read-only grant",
		Text: "not granted by the operator's grants"},
	{Name: "REFUSED", Camel: "Refused", Doc: "the port is closed", Text: "connection refused"},
	{Name: "TIMEOUT", Camel: "Timeout", Doc: "no answer in time (filtered), or no data within a read's timeout", Text: "timed out"},
	{Name: "UNREACHABLE", Camel: "Unreachable", Doc: "no route, name not found, another network error", Text: "host unreachable"},
	{Name: "INVALID", Camel: "Invalid", Doc: "a malformed argument", Text: "invalid argument"},
	{Name: "BADHANDLE", Camel: "BadHandle", Doc: "not an open connection or file", Text: "not an open connection or file"},
	{Name: "LIMIT", Camel: "Limit", Doc: "a per-call limit (open connections, probes, bytes)", Text: "a per-call network limit was reached"},
	{Name: "EOF", Camel: "EOF", Doc: "the peer closed and no data is left", GoNote: "Conn.Read returns io.EOF instead.",
		Text: "connection closed by the peer"},
	{Name: "IO", Camel: "IO", Proto: "IOError", Doc: "the connection failed while sending or receiving",
		Text: "connection failed while sending or receiving"},
	{Name: "NOENT", Camel: "NoEnt", Doc: "no such file or directory below the granted directory",
		Text: "no such file or directory in the grants"},
	{Name: "SYMLINK", Camel: "Symlink", Doc: "a component of the path is a symbolic link, which file_open never follows",
		Text: "the path goes through a symbolic link"},
	{Name: "NOTFILE", Camel: "NotFile", Doc: "the path names a directory, a device, a pipe or a socket, not a regular file",
		Text: "not a regular file"},
	{Name: "NOTSUP", Camel: "NotSup", Doc: "the host does not provide this function on this platform",
		Text: "not supported on this host"},
}
