package mcp

import (
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// answers tells the supervisor when a tool call's answer has been written
// (supervisor.Call.Answered), so that the pool's replacement for the
// call's worker, and that worker's teardown, happen after it, not while
// the answer is being encoded, written and read: on two CPUs the
// replacement's start (tens of milliseconds of CPU) would otherwise
// compete with both ends of it.
//
// Over stdio the answer is the SDK's first write to the client after the
// handler returns (it writes a call's answer just after the call returns,
// one message per write): the handler files its channel here, and the next
// write closes it. Over HTTP the gate closes it once it has served the
// request that carried the call (liveReq.answerAfter). Where neither can
// tell (the in-memory transports of the tests) a channel is closed as its
// handler returns. A channel that is never closed holds its refill back
// for supervisor.RefillHold at most.
type answers struct {
	mu      sync.Mutex
	watched bool            // a stdio writer reports its writes (written)
	waiting []chan struct{} // handlers returned, answers not yet written
}

// answerAfter arranges for ch to be closed once the answer to req, whose
// handler is returning, is written.
func (s *Server) answerAfter(ch chan struct{}, req *mcp.CallToolRequest) {
	if req.Extra != nil && req.Extra.Header != nil {
		if v, ok := s.reqs.Load(req.Extra.Header.Get(requestHeader)); !ok || !v.(*liveReq).answerAfter(ch) {
			close(ch)
		}
		return
	}
	s.answers.returned(ch)
}

// returned files the channel of a stdio call whose handler is returning,
// or closes it at once when no write will.
func (a *answers) returned(ch chan struct{}) {
	a.mu.Lock()
	if a.watched {
		a.waiting = append(a.waiting, ch)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	close(ch)
}

// written is called after each write to the stdio client: the answers of
// the handlers that had returned are out.
func (a *answers) written() {
	a.mu.Lock()
	if len(a.waiting) == 0 {
		a.mu.Unlock()
		return
	}
	w := a.waiting
	a.waiting = nil
	a.mu.Unlock()
	for _, ch := range w {
		close(ch)
	}
}

// watch turns the stdio writer's reports on or off; off closes what waits.
func (a *answers) watch(on bool) {
	a.mu.Lock()
	a.watched = on
	a.mu.Unlock()
	if !on {
		a.written()
	}
}
