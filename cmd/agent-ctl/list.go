package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/supervisor"
)

// listEntry is one line of `list --json`.
type listEntry struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description"`
	Digest      string `json:"digest"`
}

// fitWidth cuts a line to width columns, ending it with "…"; width 0 (not
// a terminal: a pipe or a file keeps whole lines) leaves it whole.
func fitWidth(line string, width int) string {
	r := []rune(line)
	if width <= 0 || len(r) <= width {
		return line
	}
	return string(r[:max(width-1, 0)]) + "…"
}

// termWidth is the width of the terminal w is, or 0 when it is none.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	return terminalWidth(f)
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the installed tools",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			st, err := openState(c.String("home"))
			if err != nil {
				return err
			}
			tools, lerr := st.store.List()
			entries := []listEntry{}
			for _, t := range tools {
				m := t.Manifest()
				entries = append(entries, listEntry{m.Name, m.Version, m.Description, t.Digest})
			}
			if c.Bool("json") {
				if err := writeJSON(c, entries); err != nil {
					return err
				}
			} else if len(entries) == 0 && lerr == nil {
				fmt.Fprintln(c.App.Writer, "no tools installed (agent-ctl install DIR)")
			} else {
				width := termWidth(c.App.Writer)
				for _, e := range append([]listEntry{{"NAME", "VERSION", "DESCRIPTION", "DIGEST"}}, entries...) {
					fmt.Fprintln(c.App.Writer, fitWidth(fmt.Sprintf("%-20s %-10s %-12s %s", e.Name, e.Version, short(e.Digest), e.Description), width))
				}
			}
			printWatchErrors(c, st)
			if lerr != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(lerr))
				return exitError{supervisor.ExitInvalid}
			}
			return nil
		},
	}
}
