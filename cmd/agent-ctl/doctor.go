package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/worker"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this host for each wall agent-ctl builds around a worker",
		Description: `Prints, for this host and build, whether each wall is available: user and
other namespaces, cgroups (v1 or v2) and the memory, pids and cpu controllers,
seccomp, Landlock, and the WebAssembly engine; on Windows, job objects, and
the file system and network confinement Windows does not give. Exits 1 when
the default isolation (container; on Windows a job object) cannot run here.`,
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			fmt.Fprintf(w, "%-26s %-4s %s\n", "wall", "", "detail")
			failed := false
			for _, ch := range isolation.Checks() {
				mark := "ok"
				if !ch.OK {
					mark = "--"
					if ch.Required {
						mark, failed = "NO", true
					}
				}
				fmt.Fprintf(w, "%-26s %-4s %s\n", ch.Name, mark, ch.Detail)
			}
			fmt.Fprintf(w, "%-26s %-4s %s on %s/%s (epoch interruption, no fuel)\n", "webassembly engine", "ok", worker.EngineVersion, runtime.GOOS, runtime.GOARCH)
			if failed {
				fmt.Fprintln(c.App.ErrWriter, "agent-ctl: the default isolation cannot run on this host; `agent-ctl run --isolation process` runs with the WASM sandbox as the only wall")
				return exitError{1}
			}
			return nil
		},
	}
}
