package fleet

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/policies/statefile"
)

// The kill switch. The controller owns the list of killed module digests
// (killedFile in its fleet directory); the admin adds to it through the
// controller (killSubject), which broadcasts the whole list to every
// agent (killedSubject) and answers agents that ask for it when they
// (re)connect (killsSubject). An agent keeps the list it last saw in its
// own fleet directory, so that it refuses killed modules from its start
// even when the controller cannot be reached.
const (
	killedFile    = "killed.json"
	killSubject   = "agentctl.admin.kill"
	killedSubject = "agentctl.killed"
	killsSubject  = "agentctl.kills"
	// maxKilled bounds the list (and so each broadcast).
	maxKilled = 4096
)

// Killed is one killed module.
type Killed struct {
	// Digest is "sha256:" and 64 hex digits.
	Digest string    `json:"digest"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// KillList is the fleet's list of killed modules, oldest first.
type KillList struct {
	Killed []Killed `json:"killed"`
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// CheckDigest checks a module digest as the kill switch takes it.
func CheckDigest(d string) error {
	if !digestRE.MatchString(d) {
		return fmt.Errorf("invalid digest %q: want sha256: and 64 lower-case hex digits (as 'agent-ctl fleet ls --json' shows)", d)
	}
	return nil
}

// Has reports whether digest is killed.
func (l *KillList) Has(digest string) bool {
	return slices.ContainsFunc(l.Killed, func(k Killed) bool { return k.Digest == digest })
}

// merge adds what other has that l lacks: kills are for good, so two lists
// merge by union, and an old broadcast never undoes a newer kill.
func (l *KillList) merge(other *KillList) (added bool) {
	for _, k := range other.Killed {
		if CheckDigest(k.Digest) == nil && !l.Has(k.Digest) && len(l.Killed) < maxKilled {
			l.Killed = append(l.Killed, k)
			added = true
		}
	}
	return added
}

// readKillList reads a list; a missing file is an empty list.
func readKillList(path string) (*KillList, error) {
	l := &KillList{}
	if err := readJSONFile(path, "the kill list", l); err != nil {
		return nil, err
	}
	return l, nil
}

func writeKillList(path string, l *KillList) error { return writeJSONFile(path, "the kill list", l) }

// kill records k in the controller's list, shares it with the cluster's
// other controllers and broadcasts the list.
func (c *Controller) kill(k Killed) (*KillList, error) {
	if err := CheckDigest(k.Digest); err != nil {
		return nil, err
	}
	k.Time = time.Now().UTC()
	l, _, err := c.recordKill(k)
	if err != nil {
		return nil, err
	}
	// Shared before it is announced, as it is recorded: a controller
	// that is down now learns it when it comes back.
	for _, o := range l.Killed {
		if o.Digest == k.Digest {
			c.share(killedKey+strings.TrimPrefix(k.Digest, "sha256:"), o)
		}
	}
	return l, c.announce(l)
}

// recordKill adds k to the controller's list unless it is there; added
// says whether it was.
func (c *Controller) recordKill(k Killed) (l *KillList, added bool, err error) {
	path := filepath.Join(c.id.dir, killedFile)
	held, err := statefile.Lock(path + ".lock")
	if err != nil {
		return nil, false, fmt.Errorf("locking the kill list: %w", err)
	}
	defer held.Release()
	if l, err = readKillList(path); err != nil {
		return nil, false, err
	}
	if l.Has(k.Digest) {
		return l, false, nil
	}
	if len(l.Killed) >= maxKilled {
		return nil, false, fmt.Errorf("the kill list holds %d modules, the most it may", maxKilled)
	}
	if k.Time.IsZero() {
		k.Time = time.Now().UTC()
	}
	l.Killed = append(l.Killed, k)
	// Recorded before it is announced: an agent that asks next gets it.
	if err := writeKillList(path, l); err != nil {
		return nil, false, err
	}
	return l, true, nil
}

// announce broadcasts the whole list to every agent.
func (c *Controller) announce(l *KillList) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := c.nc.Publish(killedSubject, b); err != nil {
		return fmt.Errorf("announcing the kill: %w", err)
	}
	return c.nc.Flush()
}

// serveKills answers the admin's kills and the agents' requests for the
// list.
func (c *Controller) serveKills() error {
	if _, err := c.nc.Subscribe(killSubject, func(m *nats.Msg) {
		var k Killed
		var reply []byte
		if err := json.Unmarshal(m.Data, &k); err != nil {
			reply = []byte("error: malformed kill: " + err.Error())
		} else if _, err := c.kill(k); err != nil {
			reply = []byte("error: " + err.Error())
		} else {
			reply = []byte("ok")
			c.log.Warn("fleet: module killed", "digest", k.Digest, "reason", k.Reason)
		}
		_ = m.Respond(reply)
	}); err != nil {
		return fmt.Errorf("serving kills: %w", err)
	}
	if _, err := c.nc.Subscribe(killsSubject, func(m *nats.Msg) {
		l, err := readKillList(filepath.Join(c.id.dir, killedFile))
		if err != nil {
			c.log.Error("fleet: reading the kill list", "err", err)
			return // the agent keeps the list it has
		}
		if b, err := json.Marshal(l); err == nil {
			_ = m.Respond(b)
		}
	}); err != nil {
		return fmt.Errorf("serving the kill list: %w", err)
	}
	return nil
}
