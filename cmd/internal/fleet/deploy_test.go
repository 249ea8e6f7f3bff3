package fleet_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/policies/trust"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/trusttest"
)

// toolVersion writes a module directory of tool hello at version, with
// module wasm (a fixture) and capabilities caps (JSON, or "").
func toolVersion(t *testing.T, version, wasm, caps string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	os.MkdirAll(dir, 0o755)
	b, err := os.ReadFile(fixtures.Path(wasm))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, wasm), b, 0o644)
	extra := `"inputSchema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}}}, "args": {"positional": ["name"]}`
	if caps != "" {
		extra += `, "capabilities": ` + caps
	}
	m := fmt.Sprintf(`{"name": "hello", "version": %q, "description": "test tool", "module": %q, %s}`, version, wasm, extra)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644)
	return dir
}

// pack packs dir with the fleet key.
func pack(t *testing.T, key *trust.SecretKey, dir string) (string, *manifest.Manifest, string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "tool.tar.gz")
	m, module, err := fleet.Pack(dir, archive, key)
	if err != nil {
		t.Fatal(err)
	}
	return archive, m, module
}

// deployed returns the current version and signer of hello on a node.
func deployed(t *testing.T, l *fleet.Local) (version, signer, digest string) {
	t.Helper()
	tool, err := l.Catalog.Tool("hello")
	if err != nil {
		t.Fatal(err)
	}
	return tool.Manifest().Version, tool.Signer, tool.Digest
}

// deployRecords returns the fleet-deploy lines of a node's audit log.
func deployRecords(t *testing.T, home string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, r := range auditRecords(t, home) {
		if r.Frontend == "fleet-deploy" {
			out = append(out, r)
		}
	}
	return out
}

// TestDeploy deploys to chosen nodes through the object store, checks the
// rollout, the grants rule, and that every forged, tampered, misdirected
// or replayed notice is refused by every node, nothing installed, each
// refusal in the node's audit log.
func TestDeploy(t *testing.T) {
	c, _ := startController(t)
	names := []string{"alpha", "beta", "gamma"}
	locals := map[string]*fleet.Local{}
	homes := map[string]string{}
	for _, n := range names {
		_, l, h := nodeWith(t, c, n, fleet.AgentOptions{StateDir: filepath.Join(t.TempDir(), "fleet")})
		locals[n], homes[n] = l, h
	}
	cl, err := fleet.Dial(c.URL(), c.AdminCreds(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	key, err := c.Identity().DeployKey()
	if err != nil {
		t.Fatal(err)
	}
	fk, _ := c.Identity().FleetKey()
	const wait = 2 * time.Minute

	// 1.1.0 to alpha and beta: installed, signed by the fleet key; gamma
	// untouched.
	archive, m, module := pack(t, key, toolVersion(t, "1.1.0", "hello.wasm", `{"env": ["GREETING"]}`))
	r, err := cl.Deploy(ctx, archive, m, module, key, []string{"alpha", "beta"}, wait)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results {
		if res.State != fleet.DeployInstalled || res.Module != "sha256:"+module || !strings.Contains(res.Grants, "nothing granted") {
			t.Errorf("%s: %+v, want installed with nothing granted", res.Node, res)
		}
	}
	for _, n := range []string{"alpha", "beta"} {
		if v, s, _ := deployed(t, locals[n]); v != "1.1.0" || s != fk.Name {
			t.Errorf("%s: hello %s signed by %q, want 1.1.0 by %s", n, v, s, fk.Name)
		}
	}
	if v, _, _ := deployed(t, locals["gamma"]); v != "1.0.0" {
		t.Errorf("gamma, not chosen: hello %s, want 1.0.0", v)
	}
	res := cl.Call(ctx, []string{"alpha", "beta"}, fleet.CallRequest{Tool: "hello", Argv: []string{"fleet"}}, wait)
	for _, cr := range res {
		if cr.ExitCode != 0 || cr.Version != "1.1.0" || !strings.Contains(cr.Stdout, "fleet") {
			t.Errorf("calling the deployed hello on %s: %+v", cr.Node, cr)
		}
	}
	// The rollout, as fleet ls reads it: each chosen node's own status.
	poll(t, "the rollout reported installed by alpha and beta", func() bool {
		nodes, err := cl.Nodes(ctx)
		if err != nil {
			return false
		}
		ro, err := cl.Rollouts(ctx, nodes)
		if err != nil || len(ro) != 1 || ro[0].ID != r.ID || len(ro[0].Results) != 2 {
			return false
		}
		for _, x := range ro[0].Results {
			if x.State != fleet.DeployInstalled {
				return false
			}
		}
		return true
	})

	// The grants rule of install: the operator of alpha grants 1.1.0 its
	// env; 1.2.0 (another module) asking for no more keeps them; 1.3.0
	// asking for more is installed with its grants held, not widened.
	tool, _ := locals["alpha"].Catalog.Tool("hello")
	err = policies.UpdateGrants(catalog.PolicyPath(homes["alpha"]), func(g *policies.Grants) error {
		tg := g.Tool("hello")
		tg.Digest, tg.Signer = tool.Digest, tool.Signer
		return tg.GrantEnv("GREETING")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version, wasm, caps, grants string
	}{
		{"1.2.0", "exit.wasm", `{"env": ["GREETING"]}`, "carried over"},
		{"1.3.0", "sleep.wasm", `{"env": ["GREETING", "SECRET"]}`, "grants held"},
	} {
		archive, m, module := pack(t, key, toolVersion(t, tc.version, tc.wasm, tc.caps))
		r, err := cl.Deploy(ctx, archive, m, module, key, []string{"alpha"}, wait)
		if err != nil {
			t.Fatal(err)
		}
		if x := r.Results[0]; x.State != fleet.DeployInstalled || !strings.Contains(x.Grants, tc.grants) {
			t.Errorf("%s: %+v, want installed, %q", tc.version, x, tc.grants)
		}
	}
	g, err := locals["alpha"].Catalog.Grants("hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Env) != 1 || g.Env[0].Key != "GREETING" {
		t.Errorf("alpha's grants after 1.3.0 asked for SECRET: %+v, want GREETING only", g.Env)
	}
	if x := cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "hello", Argv: []string{"x"}}, wait)[0]; x.ExitCode == 0 || !strings.Contains(x.Error, "held") {
		t.Errorf("calling 1.3.0 with held grants: %+v, want it refused", x)
	}

	// Forged and tampered notices, to all three nodes.
	other := trusttest.NewKey(t)
	archive, m, module = pack(t, key, toolVersion(t, "6.6.6", "exit.wasm", ""))
	good, err := cl.Deploy(ctx, archive, m, module, key, []string{"gamma"}, wait) // put in the store
	if err != nil || good.Results[0].State != fleet.DeployInstalled {
		t.Fatalf("deploying 6.6.6 to gamma: %v %+v", err, good)
	}
	payload := good.DeployPayload
	payload.Nodes, payload.ID = names, "forged"
	// The archive of another tool, stored under 6.6.6's name.
	otherArchive, _, _ := pack(t, key, toolVersion(t, "6.6.6", "sleep.wasm", ""))
	js, err := jetstream.New(connectAdmin(t, c))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, fleet.ModuleBucket)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	versions := map[string]string{}
	for _, n := range names {
		before[n] = len(deployRecords(t, homes[n]))
		versions[n], _, _ = deployed(t, locals[n])
	}
	for _, tc := range []struct {
		name   string
		notice func() *fleet.DeployNotice
		want   string
	}{
		{"unsigned", func() *fleet.DeployNotice {
			n := sign(t, &payload, key)
			n.Signature = ""
			return n
		}, "unsigned"},
		{"signed by another key", func() *fleet.DeployNotice { return sign(t, &payload, other) }, "not trusted"},
		{"changed after signing", func() *fleet.DeployNotice {
			n := sign(t, &payload, key)
			n.Payload = bytes.Replace(n.Payload, []byte(`"6.6.6"`), []byte(`"6.6.7"`), 1)
			return n
		}, "does not match"},
		{"archive replaced in the store", func() *fleet.DeployNotice {
			f, err := os.Open(otherArchive)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: payload.Object}, f); err != nil {
				t.Fatal(err)
			}
			p := payload
			p.Time, p.Size = time.Now().UTC(), fi.Size()
			return sign(t, &p, key)
		}, "digest"},
		{"another module than the notice names", func() *fleet.DeployNotice {
			// An honest store entry, signed by the fleet key, but not the
			// module this notice names.
			b, err := os.ReadFile(otherArchive)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			p := payload
			p.Digest, p.Object, p.Size = "sha256:"+hex.EncodeToString(sum[:]), "sha256-"+hex.EncodeToString(sum[:]), int64(len(b))
			if _, err := obs.PutBytes(ctx, p.Object, b); err != nil {
				t.Fatal(err)
			}
			p.Time = time.Now().UTC()
			return sign(t, &p, key)
		}, "the notice names"},
		{"for other nodes", func() *fleet.DeployNotice {
			p := payload
			p.Time, p.Nodes = time.Now().UTC(), []string{"delta"}
			return sign(t, &p, key)
		}, "not this one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, x := range cl.SendNotice(ctx, tc.notice(), names, wait) {
				if x.State != fleet.DeployRefused || !strings.Contains(x.Reason, tc.want) {
					t.Errorf("%s: %+v, want refused: %q", x.Node, x, tc.want)
				}
			}
			for _, n := range names {
				if v, _, _ := deployed(t, locals[n]); v != versions[n] {
					t.Errorf("%s: hello is %s after a refused deploy, was %s", n, v, versions[n])
				}
				recs := deployRecords(t, homes[n])
				if len(recs) != before[n]+1 || recs[len(recs)-1].Outcome != "error" || !strings.Contains(recs[len(recs)-1].Error, tc.want) {
					t.Errorf("%s's audit log: %d deploy lines (want %d), last %+v", n, len(recs), before[n]+1, recs[len(recs)-1])
				}
				before[n] = len(recs)
			}
		})
	}
	// A node away during a deploy takes it when it comes back.
	outer := t // the node lives as long as the test, not the subtest
	t.Run("missed", func(t *testing.T) {
		archive, m, module := pack(t, key, toolVersion(t, "7.0.0", "hello.wasm", ""))
		r, err := cl.Deploy(ctx, archive, m, module, key, []string{"beta", "delta"}, wait)
		if err != nil {
			t.Fatal(err)
		}
		if r.Results[0].State != fleet.DeployInstalled || r.Results[1].State != fleet.DeployPending {
			t.Fatalf("%+v, want beta installed and delta (no agent yet) pending", r.Results)
		}
		_, delta, _ := nodeWith(outer, c, "delta", fleet.AgentOptions{StateDir: filepath.Join(t.TempDir(), "fleet")})
		poll(t, "delta to take the deploy it missed", func() bool {
			v, _, _ := deployed(t, delta)
			return v == "7.0.0"
		})
	})
	// A notice already taken is not taken again (gamma took it; a replay
	// would roll back whatever came since).
	t.Run("replayed", func(t *testing.T) {
		x := cl.SendNotice(ctx, sign(t, &good.DeployPayload, key), []string{"gamma"}, wait)[0]
		if x.State != fleet.DeployRefused || !strings.Contains(x.Reason, "replayed") {
			t.Errorf("%+v, want refused as a replay", x)
		}
	})
}

func sign(t *testing.T, p *fleet.DeployPayload, key *trust.SecretKey) *fleet.DeployNotice {
	t.Helper()
	n, err := fleet.SignNotice(p, key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func connectAdmin(t *testing.T, c *fleet.Controller) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.UserCredentials(c.AdminCreds()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestDeploy_permissions checks that a node may read the module store and
// take its own deploys, and nothing more: it cannot write the store or the
// rollouts, deploy to another node, read another's deploys, or make a
// consumer (which could deliver anywhere).
func TestDeploy_permissions(t *testing.T) {
	c, _ := startController(t)
	credsA := joinToken(t, c, "a", 0)
	joinToken(t, c, "b", 0)
	// The store and the rollouts exist, as after a first deploy.
	js, err := jetstream.New(connectAdmin(t, c))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: fleet.ModuleBucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: fleet.RolloutBucket}); err != nil {
		t.Fatal(err)
	}
	k, err := fleet.FleetKeyFromCreds(credsA)
	if fk, _ := c.Identity().FleetKey(); err != nil || k.PublicKey != fk.PublicKey {
		t.Errorf("the join token's fleet key: %+v, %v; want the controller's %+v", k, err, fk)
	}
	// As an agent connects: answers come to its own inboxes.
	nc, errs := connectAs(t, c.URL(), credsA, nats.CustomInboxPrefix("_INBOX_AGENT.a"))
	denied := []action{
		{"deploy to b", func() error { return nc.Publish("agentctl.deploy.b", []byte("{}")) }},
		{"deploy to itself", func() error { return nc.Publish("agentctl.deploy.a", []byte("{}")) }},
		{"read b's deploys", func() error { _, err := nc.SubscribeSync("agentctl.deploy.b"); return err }},
		{"write a chunk", func() error { return nc.Publish("$O.AGENTCTL_MODULES.C.x", []byte("x")) }},
		{"write an object's meta", func() error { return nc.Publish("$O.AGENTCTL_MODULES.M.eA==", []byte("{}")) }},
		{"purge the store", func() error { return nc.Publish("$JS.API.STREAM.PURGE.OBJ_AGENTCTL_MODULES", nil) }},
		{"delete the store", func() error { return nc.Publish("$JS.API.STREAM.DELETE.OBJ_AGENTCTL_MODULES", nil) }},
		{"make a consumer", func() error { return nc.Publish("$JS.API.CONSUMER.CREATE.OBJ_AGENTCTL_MODULES", []byte("{}")) }},
		{"delete a message", func() error { return nc.Publish("$JS.API.STREAM.MSG.DELETE.OBJ_AGENTCTL_MODULES", []byte("{}")) }},
		{"write a rollout", func() error { return nc.Publish("$KV.AGENTCTL_ROLLOUTS.hello", []byte("{}")) }},
		{"read the rollouts", func() error { return nc.Publish("$JS.API.DIRECT.GET.KV_AGENTCTL_ROLLOUTS", []byte("{}")) }},
	}
	expectDenied(t, nc, errs, denied)
	// Reading the store is allowed: the stream's info, by direct get.
	njs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := njs.Stream(ctx, "OBJ_"+fleet.ModuleBucket)
	if err != nil {
		t.Fatalf("a node reading the module store's info: %v", err)
	}
	if _, err := s.GetLastMsgForSubject(ctx, "$O.AGENTCTL_MODULES.M.eA=="); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("a node's direct get: %v, want not found (allowed, nothing there)", err)
	}
	expectAllowed(t, nc, errs, []action{
		{"read its deploys", func() error { _, err := nc.SubscribeSync("agentctl.deploy.a"); return err }},
		{"ask for missed deploys", func() error { return nc.Publish("agentctl.deploys", nil) }},
	})
}
