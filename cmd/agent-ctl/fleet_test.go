package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
)

// TestFleet_killAndLs runs fleet kill and fleet ls (fleetRequest) against a
// controller started in-process on loopback: the kill lands in the
// controller's kill list with its reason, ls of a fleet with no agent is
// an empty list, and a bad digest is refused before dialling.
func TestFleet_killAndLs(t *testing.T) {
	home := t.TempDir()
	ctl, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	digest := "sha256:" + strings.Repeat("ab", 32)

	code, out, errs := runIn(t, home, "", "fleet", "kill", "--reason", "leaks tokens", digest)
	expect(t, "fleet kill", code, out, errs, 0, "killed "+digest+" fleet-wide\n", "")
	b, err := os.ReadFile(filepath.Join(fleet.Dir(home), "killed.json"))
	if err != nil || !strings.Contains(string(b), digest) || !strings.Contains(string(b), "leaks tokens") {
		t.Errorf("the controller's kill list (%v):\n%s\nwant %s with its reason", err, b, digest)
	}

	code, out, errs = runIn(t, home, "", "fleet", "ls", "--json")
	expect(t, "fleet ls", code, out, errs, 0, "[]", "")

	code, out, errs = runIn(t, home, "", "fleet", "kill", "sha256:abc")
	expect(t, "fleet kill, bad digest", code, out, errs, 125, "", "sha256:abc")
}
