package fleet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
)

// TestDescribe: a node describes its installed tool (the MCP face's
// schema, of the digest its status gives); an unknown tool is an error;
// an agent that predates Describe sees a presence probe, runs nothing, and
// the controller says the agent cannot describe.
func TestDescribe(t *testing.T) {
	c, home := startController(t)
	node(t, c, "alpha", nil)
	cl := adminClient(t, home)
	url, creds, err := fleet.Endpoint(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// An older agent for node "old": it answers every tool-less request
	// as a probe. The admin may take any subject.
	nc, err := nats.Connect(url, nats.UserCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	seen := make(chan fleet.CallRequest, 1)
	if _, err := nc.Subscribe("agentctl.call.old", func(m *nats.Msg) {
		var old struct { // what an older agent decodes
			Tool string `json:"tool"`
		}
		json.Unmarshal(m.Data, &old)
		seen <- fleet.CallRequest{Tool: old.Tool}
		m.Respond([]byte(`{"node":"old","exitCode":0}`))
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	info, err := cl.Describe(ctx, "alpha", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "hello" || info.Version != "1.0.0" || info.Digest != toolDigest(t, cl, "alpha", "hello") ||
		!strings.Contains(string(info.InputSchema), `"maxLength":16`) {
		t.Errorf("Describe(alpha, hello) = %+v, want hello 1.0.0 with its digest and schema", info)
	}
	if _, err := cl.Describe(ctx, "alpha", "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Describe(alpha, nope) = %v, want an error naming the tool", err)
	}
	_, err = cl.Describe(ctx, "old", "hello")
	if err == nil || !strings.Contains(err.Error(), "does not describe") {
		t.Errorf("Describe of an older agent = %v, want it said that the agent cannot describe", err)
	}
	if r := <-seen; r.Tool != "" {
		t.Errorf("an older agent read the describe request as a call of %q, want a probe", r.Tool)
	}
}
