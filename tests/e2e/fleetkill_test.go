//go:build linux

package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFleet_agentKilledMidCall: three agents run a slow call; one is killed
// outright (SIGKILL) while its worker runs. The controller's `fleet call`
// reports that node's failure on a line of its own and still delivers the
// other two nodes' results, with a non-zero exit.
func TestFleet_agentKilledMidCall(t *testing.T) {
	ctlHome := t.TempDir()
	url := startController(t, ctlHome)
	nodes := []string{"n1", "n2", "n3"}
	agents := map[string]*fleetProc{}
	for _, n := range nodes {
		home := t.TempDir()
		installFixture(t, home, "sleep", "sleep.wasm", `"inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}}, "args": {"positional": ["ms"]}`)
		// No pool: a worker child of the agent means its call is running.
		agents[n], _ = joinAgent(t, ctlHome, url, n, home, "--pool", "0")
	}

	// Long enough that n1 is killed well before the others end, short
	// enough for the test: the others' results must still arrive.
	call := exec.Command(bin, "--home", ctlHome, "fleet", "call", "sleep", "--all", "--json", "--timeout", "5m", "--", "8000")
	var out, errb strings.Builder
	call.Stdout, call.Stderr = &out, &errb
	if err := call.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- call.Wait() }()
	pollFleet(t, 2*time.Minute, func() string {
		for _, n := range nodes {
			if !hasChild(agents[n].cmd.Process.Pid) {
				return n + " runs no worker yet: the call has not started there"
			}
		}
		return ""
	})
	agents["n1"].kill(t)

	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		call.Process.Kill()
		t.Fatalf("fleet call did not end within 3 minutes of n1's death; stderr:\n%s", errb.String())
	}
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	var res []fleetResult
	if jerr := json.Unmarshal([]byte(out.String()), &res); jerr != nil {
		t.Fatalf("fleet call --json: %v\nstdout:\n%s\nstderr:\n%s", jerr, out.String(), errb.String())
	}
	byNode := map[string]fleetResult{}
	for _, r := range res {
		byNode[r.Node] = r
	}
	if code == 0 || len(res) != 3 {
		t.Errorf("exit %d with %d results, want non-zero with one result per node:\n%s\n%s", code, len(res), out.String(), errb.String())
	}
	t.Logf("n1: %q; stderr:\n%s", byNode["n1"].Error, errb.String())
	if r := byNode["n1"]; r.Error == "" {
		t.Errorf("n1, killed mid-call: %+v, want its failure reported", r)
	}
	for _, n := range []string{"n2", "n3"} {
		if r := byNode[n]; r.ExitCode != 0 || r.Error != "" {
			t.Errorf("%s: %+v, want its result (exit 0) despite n1's death", n, r)
		}
	}
}
