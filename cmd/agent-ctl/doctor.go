package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/worker/cache"
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
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON: {\"checks\": [{\"name\", \"ok\", \"required\", \"detail\"}...], \"defaultIsolation\": true|false}"}},
		Action: func(c *cli.Context) error {
			checks := []checkOut{}
			failed := false
			for _, ch := range isolation.Checks() {
				checks = append(checks, checkOut{ch.Name, ch.OK, ch.Required, ch.Detail})
				failed = failed || (!ch.OK && ch.Required)
			}
			checks = append(checks, checkOut{"webassembly engine", true, true,
				fmt.Sprintf("%s on %s/%s (epoch interruption, no fuel)", cache.EngineVersion, runtime.GOOS, runtime.GOARCH)})
			checks = append(checks, auditCheck(c))
			w := c.App.Writer
			if c.Bool("json") {
				if err := writeJSON(c, doctorOut{checks, !failed}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "%-26s %-4s %s\n", "wall", "", "detail")
				for _, ch := range checks {
					mark := "ok"
					if !ch.OK {
						mark = "--"
						if ch.Required {
							mark = "NO"
						}
					}
					fmt.Fprintf(w, "%-26s %-4s %s\n", ch.Name, mark, ch.Detail)
				}
			}
			if failed {
				fmt.Fprintln(c.App.ErrWriter, "agent-ctl: the default isolation cannot run on this host; `agent-ctl run --isolation process` runs with the WASM sandbox as the only wall")
				return exitError{1}
			}
			return nil
		},
	}
}

// doctorOut is `doctor --json`: each wall checked, and whether the default
// isolation can run (doctor exits 1 when not).
type doctorOut struct {
	Checks           []checkOut `json:"checks"`
	DefaultIsolation bool       `json:"defaultIsolation"`
}

type checkOut struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Required bool   `json:"required"`
	Detail   string `json:"detail"`
}
