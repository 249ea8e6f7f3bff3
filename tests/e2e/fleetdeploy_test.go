//go:build linux

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/policies/trust"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/registrytest"
	"github.com/agent-ctl/agent-ctl/tests/trusttest"
)

// deployRollout is the part of `fleet deploy --json` the test reads.
type deployRollout struct {
	ID      string    `json:"id"`
	Tool    string    `json:"tool"`
	Version string    `json:"version"`
	Module  string    `json:"module"`
	Object  string    `json:"object"`
	Digest  string    `json:"digest"`
	Size    int64     `json:"size"`
	Time    time.Time `json:"time"`
	Results []struct {
		Node, State, Reason string
	} `json:"results"`
}

// greetDir is a module directory of tool greet (the hello fixture) at
// version.
func greetDir(t *testing.T, version string) string {
	t.Helper()
	dir := fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}}}, "args": {"positional": ["name"]}`)
	m, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m = []byte(strings.Replace(string(m), `"version": "1.0.0"`, fmt.Sprintf(`"version": %q`, version), 1))
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), m, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFleetDeploy: a controller and three agents, separate processes and
// homes. A tool none of them has is deployed to all and called on all;
// a new version is deployed by label and reaches only those nodes; a
// notice signed by another key, published with the admin's credentials
// straight onto each node's deploy subject, is refused by every node,
// installs nothing and is in each node's audit log; fleet ls shows the
// rollout.
func TestFleetDeploy(t *testing.T) {
	ctlHome := t.TempDir()
	url := startController(t, ctlHome)
	if fi, err := os.Stat(filepath.Join(ctlHome, "fleet", "deploy.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the fleet signing key: %v %v, want a 0600 file", fi, err)
	}
	names := []string{"n1", "n2", "n3"}
	labels := map[string]string{"n1": "role=web", "n2": "role=web", "n3": "role=db"}
	homes := map[string]string{}
	for _, n := range names {
		homes[n] = t.TempDir()
		installFixture(t, homes[n], "hello", "hello.wasm", fleetTools[0].extra)
		joinAgent(t, ctlHome, url, n, homes[n], "--label", labels[n])
	}
	pollFleet(t, 2*time.Minute, func() string {
		nodes := fleetLs(t, ctlHome)
		for _, n := range names {
			if !nodes[n].Online {
				return "fleet ls: want n1, n2, n3 online, got " + toJSON(nodes)
			}
		}
		return ""
	})
	// greetVersions returns each node's version of greet ("" for none).
	greetVersions := func() map[string]string {
		out := map[string]string{}
		for n, node := range fleetLs(t, ctlHome) {
			for _, tool := range node.Tools {
				if tool.Name == "greet" {
					out[n] = tool.Version
				}
			}
		}
		return out
	}
	// waitVersions waits until each node's greet is at the version want
	// gives that node.
	waitVersions := func(t *testing.T, want map[string]string) {
		t.Helper()
		pollFleet(t, time.Minute, func() string {
			v := greetVersions()
			for _, n := range names {
				if v[n] != want[n] {
					return fmt.Sprintf("greet versions %v, want %v", v, want)
				}
			}
			return ""
		})
	}
	deploy := func(t *testing.T, args ...string) deployRollout {
		t.Helper()
		out, errs, code := fleetRun(t, ctlHome, append([]string{"fleet", "deploy", "--json"}, args...)...)
		var ro deployRollout
		if err := json.Unmarshal([]byte(out), &ro); err != nil || code != 0 {
			t.Fatalf("fleet deploy %s: exit %d, %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, err, out, errs)
		}
		return ro
	}

	var v1 deployRollout
	t.Run("all", func(t *testing.T) {
		// The flag after the source, as people write it.
		v1 = deploy(t, greetDir(t, "1.0.0"), "--all")
		if len(v1.Results) != 3 {
			t.Fatalf("rollout %+v, want three nodes", v1)
		}
		for _, r := range v1.Results {
			if r.State != "installed" {
				t.Errorf("%s: %+v, want installed", r.Node, r)
			}
		}
		out, errs, code := fleetRun(t, ctlHome, "fleet", "call", "greet", "--all", "--json", "--", "deployed")
		var res []fleetResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 3 {
			t.Fatalf("fleet call greet --all: exit %d, %v\n%s\n%s", code, err, out, errs)
		}
		for _, r := range res {
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, "deployed") {
				t.Errorf("%s: %+v, want the deployed greet's greeting", r.Node, r)
			}
		}
	})

	t.Run("label", func(t *testing.T) {
		ro := deploy(t, "--label", "role=web", greetDir(t, "1.1.0"))
		var got []string
		for _, r := range ro.Results {
			got = append(got, r.Node+":"+r.State)
		}
		if strings.Join(got, ",") != "n1:installed,n2:installed" {
			t.Errorf("deploy --label role=web: %v, want n1 and n2 installed", got)
		}
		waitVersions(t, map[string]string{"n1": "1.1.0", "n2": "1.1.0", "n3": "1.0.0"})
	})

	// From a registry, through the OCI code install uses.
	t.Run("oci", func(t *testing.T) {
		reg := registrytest.Start(t)
		t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials: the registry needs none
		ref := "oci://" + reg.Host + "/tools/greet:1.2.0"
		if out, errs, code := fleetRun(t, t.TempDir(), "publish", "--plain-http", greetDir(t, "1.2.0"), ref); code != 0 {
			t.Fatalf("publish: exit %d\n%s\n%s", code, out, errs)
		}
		ro := deploy(t, ref, "--plain-http", "--nodes", "n3")
		if len(ro.Results) != 1 || ro.Results[0].State != "installed" || ro.Version != "1.2.0" {
			t.Errorf("deploy %s --nodes n3: %+v, want 1.2.0 installed on n3", ref, ro)
		}
		waitVersions(t, map[string]string{"n1": "1.1.0", "n2": "1.1.0", "n3": "1.2.0"})
	})

	t.Run("bad signature reaches none", func(t *testing.T) {
		other := trusttest.NewKey(t)
		// A well-formed notice for all three, naming an object that is in
		// the store, signed by a key that is not the fleet's.
		payload, _ := json.Marshal(map[string]any{"id": "forged", "tool": "greet", "version": "6.6.6", "module": v1.Module,
			"object": v1.Object, "digest": v1.Digest, "size": v1.Size, "nodes": names, "time": time.Now().UTC()})
		notice, _ := json.Marshal(map[string]any{"payload": payload, "signature": string(trust.SignMessage(other, payload, "forged"))})
		nc, err := nats.Connect(url, nats.UserCredentials(filepath.Join(ctlHome, "fleet", "admin.creds")))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		before := greetVersions()
		for _, n := range names {
			m, err := nc.Request("agentctl.deploy."+n, notice, 2*time.Minute)
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			var r struct{ State, Reason string }
			if err := json.Unmarshal(m.Data, &r); err != nil || r.State != "refused" || !strings.Contains(r.Reason, "not trusted") {
				t.Errorf("%s answered %s, want refused: signed by a key that is not trusted", n, m.Data)
			}
			var refused []string
			err = audit.Read(supervisor.AuditDir(homes[n]), nil, func(r *audit.Record, _ []byte) error {
				if r.Frontend == "fleet-deploy" && r.Outcome == "error" {
					refused = append(refused, r.Error)
				}
				return nil
			})
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if len(refused) != 1 || !strings.Contains(refused[0], "not trusted") {
				t.Errorf("%s's audit log: refused deploys %q, want the forged one", n, refused)
			}
		}
		if after := greetVersions(); toJSON(after) != toJSON(before) {
			t.Errorf("greet versions %v after the forged deploy, were %v", after, before)
		}
	})

	t.Run("ls shows the rollout", func(t *testing.T) {
		// greet's last rollout chose n1 and n2 (1.1.0 by label) unless
		// the registry test ran: then n3 alone (1.2.0).
		want := map[string]string{"n1": "1.1.0", "n2": "1.1.0"}
		if v := greetVersions(); v["n3"] == "1.2.0" {
			want = map[string]string{"n3": "1.2.0"}
		}
		pollFleet(t, time.Minute, func() string {
			out, errs, code := fleetRun(t, ctlHome, "fleet", "ls")
			for _, n := range names {
				line := regexp.MustCompile(`greet\s+` + regexp.QuoteMeta(want[n]) + `\s+[0-9a-f]{12}\s+.*\s` + n + `\s+installed`)
				if got := line.MatchString(out); (want[n] != "") != got {
					return fmt.Sprintf("fleet ls: exit %d, a line of greet %q installed on %s: %v, want %v:\n%s\n%s", code, want[n], n, got, want[n] != "", out, errs)
				}
			}
			return ""
		})
		out, errs, code := fleetRun(t, ctlHome, "fleet", "ls", "--json")
		var nodes []struct {
			Node    string `json:"node"`
			Rollout []struct {
				Tool, Version, State string
			} `json:"rollout"`
		}
		if err := json.Unmarshal([]byte(out), &nodes); err != nil || code != 0 {
			t.Fatalf("fleet ls --json: exit %d, %v\n%s\n%s", code, err, out, errs)
		}
		for _, n := range nodes {
			w := "null"
			if want[n.Node] != "" {
				w = `[{"Tool":"greet","Version":"` + want[n.Node] + `","State":"installed"}]`
			}
			if got := toJSON(n.Rollout); got != w {
				t.Errorf("%s's rollout: %s, want %s", n.Node, got, w)
			}
		}
	})
}
