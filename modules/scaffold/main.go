// __NAME__: joins --text (or the contents of --file) --repeat times,
// upper-cases it with --upper, and prints the result and its size as one JSON
// document. Its parameters are declared once, in manifest.json, which is
// built into the module for the SDK (./agentctl) to read. Exit 0, 1 when the
// file cannot be read, 2 for a usage error.
package main

import (
	"bytes"
	_ "embed"

	"__MODULE__/agentctl"
)

//go:embed manifest.json
var manifest []byte

func main() {
	args := agentctl.ParseManifest(manifest)
	repeat := args.Int("repeat", 1)
	if repeat < 1 || repeat > 100 {
		args.Usage("--repeat: want 1 to 100, got %d", repeat)
	}
	var text []byte
	switch path := args.String("file", ""); {
	case args.Has("text") == args.Has("file"):
		args.Usage("give --text or --file (one of them)")
	case args.Has("text"):
		text = []byte(args.String("text", ""))
	default:
		b, err := args.ReadFile(path, 1<<20)
		if err != nil {
			args.Fail(1, "%s", agentctl.PathError(args.Tool(), path, err))
		}
		text = b
	}

	out := make([]byte, 0, (len(text)+1)*int(repeat))
	for i := range repeat {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, text...)
	}
	if args.Bool("upper") {
		for i, c := range out {
			if c >= 'a' && c <= 'z' {
				out[i] = c - 'a' + 'A'
			}
		}
	}
	words := len(bytes.FieldsFunc(out, func(c rune) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }))
	agentctl.PrintJSON(agentctl.Obj("text", string(out), "bytes", len(out), "words", words))
}
