package main

import (
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// TestCliapp_agrees: what cliapp spells again (so that the front links
// neither isolation nor the supervisor) is what those packages have.
func TestCliapp_agrees(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"WorkerIDEnv", cliapp.WorkerIDEnv, isolation.WorkerIDEnv},
		{"AllowNoLandlockEnv", cliapp.AllowNoLandlockEnv, isolation.AllowNoLandlockEnv},
		{"EngineEnv", cliapp.EngineEnv, isolation.EngineEnv},
		{"DefaultWorkerID", cliapp.DefaultWorkerID, isolation.DefaultWorkerID},
		{"ExitInternal", cliapp.ExitInternal, supervisor.ExitInternal},
	} {
		if tc.got != tc.want {
			t.Errorf("cliapp.%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// The default state directory: with no --home and no AGENTCTL_HOME,
	// the supervisor's.
	t.Setenv("AGENTCTL_HOME", "")
	t.Setenv("HOME", t.TempDir())
	want, err := supervisor.DefaultHome()
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(nil, nil, nil)
	var got string
	app.Action = func(c *cli.Context) error { got, err = cliapp.HomeDir(c); return err }
	app.Commands = nil
	if err := app.Run([]string{"agent-ctl"}); err != nil {
		t.Fatal(err)
	}
	if filepath.Clean(got) != filepath.Clean(want) {
		t.Errorf("cliapp.HomeDir = %q, supervisor.DefaultHome = %q", got, want)
	}
}
