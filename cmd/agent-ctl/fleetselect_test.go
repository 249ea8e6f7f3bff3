package main

import "testing"

// TestFleet_chooseNodes: fleet call and fleet deploy read --nodes, --all
// and --label the same way (chooseNodes), before they dial the fleet: a
// home with no controller answers a bad choice with a usage error (exit
// 125, one line), not with the fleet it cannot reach. fleet deploy used to
// dial first.
func TestFleet_chooseNodes(t *testing.T) {
	hello := repoPath("modules/hello")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"call, none", []string{"fleet", "call", "hello"}, "fleet call: give exactly one of --nodes, --all or --label"},
		{"call, two", []string{"fleet", "call", "--all", "--nodes", "n1", "hello"}, "fleet call: give exactly one of --nodes, --all or --label"},
		{"call, bad node", []string{"fleet", "call", "--nodes", "n1,N/2", "hello"}, `--nodes: invalid node name "N/2"`},
		{"call, bad label", []string{"fleet", "call", "--label", "role", "hello"}, `--label "role": want KEY=VALUE`},
		{"deploy, none", []string{"fleet", "deploy", hello}, "fleet deploy: give exactly one of --nodes, --all or --label"},
		{"deploy, three", []string{"fleet", "deploy", "--all", "--nodes", "n1", "--label", "a=b", hello}, "fleet deploy: give exactly one of --nodes, --all or --label"},
		{"deploy, bad node", []string{"fleet", "deploy", "--nodes", "-n1", hello}, `--nodes: invalid node name "-n1"`},
		{"deploy, bad label", []string{"fleet", "deploy", "--label", "=x", hello}, `--label "=x": want KEY=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantUsageError(t, tc.args, tc.want) })
	}
}
