package fleet

import (
	"fmt"
	"regexp"
)

// Subjects. A node's name is one subject token, so a permission on
// "agentctl.call.NAME" names exactly one node.
const (
	// ServiceName is the micro service every agent registers.
	ServiceName = "agentctl"
	// StatusStream keeps the last status message of every node.
	StatusStream = "AGENTCTL_STATUS"

	callPrefix   = "agentctl.call."
	statusPrefix = "agentctl.status."
)

func callSubject(node string) string   { return callPrefix + node }
func statusSubject(node string) string { return statusPrefix + node }

// inboxPrefix is where a node's requests get their answers: its own, so
// that a node may read its answers and no one else's.
func inboxPrefix(node string) string { return "_INBOX_AGENT." + node }

var nodeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CheckNode checks a node name: lower-case letters, digits, "-" and "_",
// at most 63 characters, so that it is one NATS subject token (no ".",
// "*", ">" or spaces) and a file name.
func CheckNode(name string) error {
	if !nodeName.MatchString(name) {
		return fmt.Errorf("invalid node name %q: want lower-case letters, digits, '-' and '_', at most 63, starting with a letter or digit", name)
	}
	return nil
}
