package main

import (
	"strings"
	"testing"
)

// TestOneArg: each command that takes exactly one argument refuses none
// and two alike (oneArg; token's subcommands their own way): exit 125, one
// line that names the command and what it wants, nothing on stdout.
func TestOneArg(t *testing.T) {
	for _, tc := range []struct {
		args []string // the command and its flags; the test adds 0 or 2 arguments
		want string
	}{
		{[]string{"describe"}, "describe: want exactly one tool name (see 'agent-ctl describe --help')"},
		{[]string{"grant", "--env", "TZ"}, "grant: want exactly one tool name (see 'agent-ctl grant --help')"},
		{[]string{"revoke", "--all"}, "revoke: want exactly one tool name (see 'agent-ctl revoke --help')"},
		{[]string{"remove"}, "remove: want exactly one tool name (see 'agent-ctl remove --help')"},
		{[]string{"history"}, "history: want exactly one tool name (see 'agent-ctl history --help')"},
		{[]string{"rollback"}, "rollback: want exactly one tool name (see 'agent-ctl rollback --help')"},
		{[]string{"new"}, "new: want exactly one tool name (see 'agent-ctl new --help')"},
		{[]string{"install"}, "install: want exactly one module directory (see 'agent-ctl install --help')"},
		{[]string{"sign", "--key", "k.key"}, "sign: want exactly one module directory (see 'agent-ctl sign --help')"},
		{[]string{"token", "create"}, "token create: give one NAME"},
		{[]string{"token", "revoke"}, "token revoke: give one NAME"},
	} {
		for _, extra := range [][]string{nil, {"a", "b"}} {
			args := append(append([]string(nil), tc.args...), extra...)
			t.Run(strings.Join(args, " "), func(t *testing.T) { wantUsageError(t, args, tc.want) })
		}
	}
}
