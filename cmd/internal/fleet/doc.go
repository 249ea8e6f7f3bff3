// Package fleet is agent-ctl's fleet front-end: one controller, many
// agents, over NATS. The controller runs an embedded NATS server with
// JetStream and decentralized auth (an operator, a fleet account, one
// user per agent, each a JWT signed by the key above it), so that a fleet
// that outgrows one controller moves to an existing NATS cluster with no
// change here: agents and the fleet commands only need a URL and a
// credentials file.
//
// An agent serves its installed tools as a NATS micro service (discoverable
// with $SRV.PING/INFO/STATS) on subjects of its own name, and publishes its
// status (labels, tools, versions, digests) to a subject of its own name
// that a JetStream stream keeps the last message of. Its credentials allow
// nothing else: it cannot call other agents, answer as them, or read their
// results. Every call an agent answers goes through the same catalog,
// grants, limits and supervisor.Invoke as a local call.
package fleet
