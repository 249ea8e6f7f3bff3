package cliapp

import "io"

// ModuleStdin is agent-ctl's own stdin: a console has no background
// process group to stop agent-ctl with.
func ModuleStdin(r io.Reader) io.Reader { return r }
