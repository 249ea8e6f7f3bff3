package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
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
// default reads it): the app completes command names, each command its
// flags once the word being completed starts with "-".
func setCompletion(app *cli.App) {
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
			args := c.Args().Slice()
			if len(args) == 0 || !strings.HasPrefix(args[len(args)-1], "-") {
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
