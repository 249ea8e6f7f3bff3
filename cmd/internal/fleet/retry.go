package fleet

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Call IDs, repeats and cancels, the client's side (the agent's is in
// cancel.go).
const (
	// resendEvery is how often a client asks again for an answer that has
	// not come: a request or an answer lost with a stopped server is
	// asked again within this, and the agent's window turns the repeat
	// into the same call.
	resendEvery = 2 * time.Second
	// failoverWait is how long, in a cluster, a client asks again a node
	// that has no responders: an agent whose server stopped takes a moment
	// to reconnect to another. With one server "no responders" is
	// final at once.
	failoverWait = 15 * time.Second
	// noRespondersRetry is the pause before asking again after one.
	noRespondersRetry = 250 * time.Millisecond
)

// newCallID returns a random call ID (26 characters, 130 bits).
func newCallID() string { return rand.Text() }

// onReconnect wakes the calls waiting for an answer: what was in flight
// through the old server may be lost, so they ask again at once.
func (c *Client) onReconnect(*nats.Conn) {
	c.mu.Lock()
	close(c.reconnected)
	c.reconnected = make(chan struct{})
	c.mu.Unlock()
}

// reconnects returns a channel closed at the next reconnect.
func (c *Client) reconnects() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnected
}

// noResponders reports whether m is the server's "no responders" status.
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// request sends a call (body, whose ID is id) to node and waits for its
// answer, asking again every resendEvery and at once after a reconnect.
// Each attempt has a reply subject of its own under one inbox (the server
// lets the agent answer each subject once), and the agent answers the
// latest attempt only, so the answer comes once. A
// "no responders" ends it at once with one server, and is asked again for
// up to failoverWait in a cluster. When ctx ends first, it sends the node a
// cancel for id and returns ctx's cause.
func (c *Client) request(ctx context.Context, node, id string, body []byte) (*nats.Msg, error) {
	inbox := c.nc.NewInbox()
	ch := make(chan *nats.Msg, 4)
	sub, err := c.nc.ChanSubscribe(inbox+".*", ch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	subj := callSubject(node)
	t0 := time.Now()
	reconnected := c.reconnects()
	attempt := 0
	send := func() error {
		attempt++
		return c.nc.PublishRequest(subj, inbox+"."+strconv.Itoa(attempt), body)
	}
	if err := send(); err != nil {
		return nil, err
	}
	resend := time.NewTimer(resendEvery)
	defer resend.Stop()
	for {
		select {
		case m := <-ch:
			if !noResponders(m) {
				return m, nil
			}
			if len(c.nc.Servers()) < 2 || time.Since(t0) > failoverWait {
				return nil, nats.ErrNoResponders
			}
			resend.Reset(noRespondersRetry)
			continue
		case <-resend.C:
		case <-reconnected:
			reconnected = c.reconnects()
		case <-ctx.Done():
			c.cancel(node, id)
			return nil, context.Cause(ctx)
		}
		if err := send(); err != nil {
			return nil, err
		}
		resend.Reset(resendEvery)
	}
}

// cancel asks node to stop the call id: no one waits for its answer. A
// best effort: a cancel that is lost leaves the call to the time limit
// that travelled with it.
func (c *Client) cancel(node, id string) {
	b, err := json.Marshal(CallRequest{Cancel: id})
	if err != nil {
		return
	}
	if err := c.nc.Publish(callSubject(node), b); err == nil {
		_ = c.nc.FlushTimeout(2 * time.Second)
	}
}
