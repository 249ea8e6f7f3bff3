package fleet

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// Call IDs, repeats and cancels, the agent's side. A client names each
// call with a random ID and asks again while no answer has come (every
// resendEvery, at once after it reconnects, and after a "no responders"
// in a cluster): in a cluster a request or an answer is lost when the
// server that carries it stops. The agent runs an ID once: a repeat that
// arrives while the call runs waits for its answer, one that arrives after
// gets the kept answer. So a call is neither lost nor run twice, as long as
// the same agent process sees its repeats (the window is in memory: an
// agent restarted mid-call may run a repeat again, and two agents sharing a
// token each keep their own window).
const (
	// dedupeWindow is how long a finished call's answer is kept for a
	// repeat of its request.
	dedupeWindow = 10 * time.Minute
	// maxDedupe and maxDedupeBytes bound what is kept: the oldest answers
	// go first.
	maxDedupe      = 1024
	maxDedupeBytes = 64 << 20
)

// errCancelled is the cause of a call stopped by its client's cancel.
var errCancelled = errors.New("cancelled by the controller")

var callID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// callEntry is one call ID an agent has seen.
type callEntry struct {
	// sum is the SHA-256 of the request: a repeat must be the same
	// request, byte for byte.
	sum [32]byte
	// run is the running call; nil before it starts.
	run *running
	// reply is where the answer goes: the latest request's reply subject.
	// A client repeats on a new reply subject each time, under one inbox
	// of its own, so the latest reaches it as well as any, and answering
	// it alone sends the answer once. (The server lets an agent answer
	// each request it received once, and for a while only: a repeat on a
	// subject it already answered, or the first request of a long call,
	// may no longer be answered.)
	reply micro.Request
	// answer is the kept answer, once the call has ended.
	answer []byte
	doneAt time.Time
	// cancel is set when a cancel came before the call started: it is
	// stopped as it starts. tombstone marks an ID cancelled before its
	// request arrived.
	cancel, tombstone bool
}

// callIDs are the IDs an agent has seen, under Agent.mu.
type callIDs struct {
	m     map[string]*callEntry
	done  []string // IDs whose answer is kept, oldest first
	bytes int
}

// repeat registers req's ID. It returns the entry of a new call, which the
// caller runs and finishes; nil when req was a repeat (or a misuse of an
// ID) and has been dealt with.
func (a *Agent) repeat(req micro.Request, cr *CallRequest) *callEntry {
	if !callID.MatchString(cr.ID) {
		a.respond(req, &CallResult{Node: a.o.Name, Tool: cr.Tool, ExitCode: 125, Error: fmt.Sprintf("malformed call id %q", cr.ID)})
		return nil
	}
	sum := sha256.Sum256(req.Data())
	a.mu.Lock()
	if a.ids.m == nil {
		a.ids.m = map[string]*callEntry{}
	}
	e := a.ids.m[cr.ID]
	switch {
	case e == nil:
		e = &callEntry{sum: sum, reply: req}
		a.ids.m[cr.ID] = e
		a.mu.Unlock()
		return e
	case e.tombstone:
		a.mu.Unlock()
		a.respond(req, &CallResult{Node: a.o.Name, Tool: cr.Tool, ExitCode: 125, Error: errCancelled.Error() + " before it started"})
	case e.sum != sum:
		a.mu.Unlock()
		a.respond(req, &CallResult{Node: a.o.Name, Tool: cr.Tool, ExitCode: 125, Error: fmt.Sprintf("call id %s was used for another request", cr.ID)})
	case e.answer != nil:
		answer := e.answer
		a.mu.Unlock()
		a.log.Info("fleet: answering a repeated call from the kept answer", "tool", cr.Tool, "call_id", cr.ID)
		if err := req.Respond(answer); err != nil {
			a.log.Warn("fleet: answering a call", "tool", cr.Tool, "err", err)
		}
	default:
		e.reply = req
		a.mu.Unlock()
	}
	return nil
}

// finish answers the latest request for e's call, and keeps the
// answer for later repeats unless keep is false (a call refused before it
// ran, which a repeat may try again).
func (a *Agent) finish(id string, e *callEntry, res *CallResult, keep bool) {
	b, err := json.Marshal(res)
	if err != nil {
		a.log.Error("fleet: encoding an answer", "tool", res.Tool, "err", err)
		b, _ = json.Marshal(&CallResult{Node: res.Node, Tool: res.Tool, ExitCode: 125, Error: "encoding the answer: " + err.Error()})
	}
	a.mu.Lock()
	reply := e.reply
	e.reply, e.run = nil, nil
	if keep {
		e.answer, e.doneAt = b, time.Now()
		a.keep(id, len(b))
	} else {
		delete(a.ids.m, id)
	}
	a.mu.Unlock()
	if err := reply.Respond(b); err != nil {
		a.log.Warn("fleet: answering a call", "tool", res.Tool, "err", err)
	}
}

// keep records a kept answer of n bytes and forgets the oldest past the
// window or the bounds. Under a.mu.
func (a *Agent) keep(id string, n int) {
	a.ids.done = append(a.ids.done, id)
	a.ids.bytes += n
	now := time.Now()
	for len(a.ids.done) > 0 {
		old := a.ids.m[a.ids.done[0]]
		if len(a.ids.done) <= maxDedupe && a.ids.bytes <= maxDedupeBytes && old != nil && now.Sub(old.doneAt) < dedupeWindow {
			break
		}
		if old != nil {
			a.ids.bytes -= len(old.answer)
			delete(a.ids.m, a.ids.done[0])
		}
		a.ids.done = a.ids.done[1:]
	}
}

// cancelCall stops the running call with that ID. An ID not seen yet is
// remembered as cancelled: its request, should it arrive after the cancel
// (a repeat through another server), is refused rather than run.
func (a *Agent) cancelCall(req micro.Request, id string) {
	if !callID.MatchString(id) {
		return
	}
	a.mu.Lock()
	if a.ids.m == nil {
		a.ids.m = map[string]*callEntry{}
	}
	e := a.ids.m[id]
	stopped := false
	switch {
	case e == nil:
		e = &callEntry{tombstone: true, answer: []byte{}, doneAt: time.Now()}
		a.ids.m[id] = e
		a.keep(id, 0)
	case e.run != nil:
		e.run.cancel(errCancelled)
		stopped = true
	case e.answer == nil:
		e.cancel = true
	}
	a.mu.Unlock()
	a.log.Info("fleet: cancel received", "call_id", id, "stopped", stopped)
	if req.Reply() != "" {
		a.respond(req, &CallResult{Node: a.o.Name})
	}
}
