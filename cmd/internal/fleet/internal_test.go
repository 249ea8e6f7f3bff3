package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
)

// TestStartAgent_refusesOthersCreds: an agent started with credentials
// that are not its node's own does not join. Before, it joined, served
// nothing (the server refused its subjects) and logged a refusal every
// interval for as long as it ran.
func TestStartAgent_refusesOthersCreds(t *testing.T) {
	home := t.TempDir()
	c, err := StartController(home, ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cat, err := catalog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".creds")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ownB, ownErr := c.Identity().JoinToken("a", 0)
	otherB, otherErr := c.Identity().JoinToken("b", 0)
	// Named "a" but holding b's permissions: only the server can tell.
	forged, forgedErr := c.Identity().userCreds("a", &jwt.Permissions{
		Pub:  jwt.Permission{Allow: jwt.StringList{statusSubject("b")}},
		Sub:  jwt.Permission{Allow: jwt.StringList{callSubject("b"), "$SRV.>"}},
		Resp: &jwt.ResponsePermission{MaxMsgs: 1},
	}, 0)
	for _, tc := range []struct {
		name, creds, want string
	}{
		{"own", write("a", ownB, ownErr), ""},
		{"another node's", write("b", otherB, otherErr), `are for node "b", not "a"`},
		{"the admin's", c.AdminCreds(), `are for node "admin", not "a"`},
		{"named right, another's subjects", write("forged", forged, forgedErr), "do not allow node a's own subjects"},
		{"not credentials", write("junk", []byte("junk"), nil), "reading credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := StartAgent(&Local{Catalog: cat}, AgentOptions{URL: c.URL(), Name: "a", Creds: tc.creds})
			if a != nil {
				defer a.Close(context.Background())
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("with its own credentials: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestStartController_loopbackOnly: with no TLS, the controller listens on
// loopback only. Before, it listened in the clear on whatever it was given.
func TestStartController_loopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"[::]:0", false},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			c, err := StartController(t.TempDir(), ControllerOptions{Listen: tc.listen})
			if c != nil {
				c.Close()
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), "not a loopback address")):
				t.Fatalf("got %v, want a refusal naming loopback", err)
			}
		})
	}
}

// TestAgent_lost: an agent whose token expires while it runs is lost, and
// says so, instead of staying up with a closed connection; one that is
// closed is not lost. Before, nothing told its owner.
func TestAgent_lost(t *testing.T) {
	c, err := StartController(t.TempDir(), ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cat, err := catalog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string, ttl time.Duration) *Agent {
		t.Helper()
		b, err := c.Identity().JoinToken(name, ttl)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".creds")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := StartAgent(&Local{Catalog: cat}, AgentOptions{URL: c.URL(), Name: name, Creds: path})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Long enough to join on a loaded machine; the expiry is the point.
	expiring := start("expiring", 5*time.Second)
	kept := start("kept", 0)
	select {
	case <-expiring.Lost():
		if err := expiring.Err(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("lost with %v, want an authorization error", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the agent whose token expired is not lost 2 minutes on")
	}
	if err := kept.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kept.Lost():
		t.Errorf("a closed agent is lost: %v", kept.Err())
	default:
	}
}
