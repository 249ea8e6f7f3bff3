package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules"
)

// Each script asks agent-ctl itself for the words that may follow what is
// typed so far (urfave/cli's --generate-bash-completion), so installed
// tools and their flags complete too, as they are installed.
const bashCompletion = `# agent-ctl completion for bash: source <(agent-ctl completion bash)
_agent_ctl_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    # A lone "-" asks for the flags; compgen filters them by what is typed.
    opts=$("${words[@]}" - --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _agent_ctl_complete agent-ctl
`

const zshCompletion = `# agent-ctl completion for zsh: source <(agent-ctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

const fishCompletion = `# agent-ctl completion for fish: agent-ctl completion fish | source
complete -c agent-ctl -f -a '(eval (commandline -opc) (string replace -r -- "^-.*" "-" (commandline -ct)) --generate-bash-completion 2>/dev/null)'
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "SHELL",
		Description: `bash: source <(agent-ctl completion bash)
zsh:  source <(agent-ctl completion zsh)
fish: agent-ctl completion fish | source
Installed tools and their flags complete too.`,
		Action: func(c *cli.Context) error {
			scripts := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}
			s, ok := scripts[c.Args().First()]
			if c.NArg() != 1 || !ok {
				return usageError{"completion: want one of bash, zsh, fish (see 'agent-ctl completion --help')"}
			}
			fmt.Fprint(c.App.Writer, s)
			return nil
		},
	}
}

// setCompletion makes completion independent of os.Args (urfave/cli's
// default reads it; args are the command line, ending with
// --generate-bash-completion when completing): the app completes command
// names; each command its flags once the word being completed starts with
// "-", the values of the flags that have a fixed set, and, for the
// commands that take a tool, the installed tools' names.
func setCompletion(app *cli.App, args []string) {
	var prev string
	if n := len(args); n >= 2 && args[n-1] == "--generate-bash-completion" {
		prev = args[n-2]
	}
	app.BashComplete = func(c *cli.Context) {
		for _, cmd := range app.Commands {
			if !cmd.Hidden {
				fmt.Fprintln(c.App.Writer, cmd.Name)
			}
		}
	}
	for _, cmd := range app.Commands {
		cmd := cmd
		cmd.BashComplete = func(c *cli.Context) {
			if vs, ok := flagValues[prev]; ok && slices.ContainsFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), prev[2:]) }) {
				for _, v := range vs() {
					fmt.Fprintln(c.App.Writer, v)
				}
				return
			}
			args := c.Args().Slice()
			if len(args) == 0 || !strings.HasPrefix(args[len(args)-1], "-") {
				if len(args) == 0 && slices.Contains(takesTool, cmd.Name) {
					for _, t := range app.Commands {
						if t.Category == toolCategory {
							fmt.Fprintln(c.App.Writer, t.Name)
						}
					}
				}
				return
			}
			for _, f := range cmd.Flags {
				for _, name := range f.Names() {
					if len(name) > 1 {
						fmt.Fprintln(c.App.Writer, "--"+name)
					}
				}
			}
		}
	}
}

// takesTool are the commands whose argument is an installed tool's name.
var takesTool = []string{"grant", "revoke", "describe", "remove", "history", "rollback"}

// flagValues are the values the flags with a fixed set of them complete to.
var flagValues = map[string]func() []string{
	"--lang":      modules.LanguageNames,
	"--isolation": func() []string { return []string{"container", "process"} },
}
