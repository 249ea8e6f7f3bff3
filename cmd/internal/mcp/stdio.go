package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// RunStdio serves one client on r and w (the process's stdin and stdout
// for `agent-ctl mcp`) until it disconnects (r ends) or ctx ends, then
// stops gracefully (Shutdown): the calls in flight get grace to finish and
// their answers are written before it returns.
func (s *Server) RunStdio(ctx context.Context, r io.ReadCloser, w io.WriteCloser, grace time.Duration) error {
	eof, release := make(chan struct{}), make(chan struct{})
	fl := newFlight()
	s.answers.watch(true)
	defer s.answers.watch(false)
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- s.srv.Run(runCtx, &mcp.IOTransport{Reader: &eofReader{r: r, eof: eof, release: release, fl: fl}, Writer: &answerWriter{w: w, fl: fl, written: s.answers.written}})
	}()
	var err error
	select {
	case <-ctx.Done():
		s.Shutdown(grace)
	case <-eof:
		// The requests read before the end were sent to be answered: they
		// get the grace, as calls in flight do, before the rest are
		// cancelled (`echo request | agent-ctl mcp` is answered).
		fl.waitAnswered(ctx, grace)
		s.Shutdown(0)
	case err = <-errc:
		errc <- err
		s.Shutdown(grace)
	}
	// The SDK writes no answer once its reader has ended or its session is
	// closing, and it writes a call's answer after the call returns: hold
	// the end of input back until every request read has its answer
	// written (or was cancelled by the client), however long the SDK takes
	// to write it on a loaded machine. The bound is for a request the SDK
	// never answers.
	fl.waitAnswered(context.Background(), answerWait)
	// Then the end of input reaches the SDK, which closes the session once
	// the answers are written; a client that has not closed its end is
	// disconnected.
	close(release)
	select {
	case err = <-errc:
	case <-ctx.Done():
		cancel()
		err = <-errc
	case <-time.After(5 * time.Second):
		cancel()
		err = <-errc
	}
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// eofReader closes eof when its reader ends, and holds the end back from
// the SDK until release is closed: the SDK drops the answers of calls in
// flight once its reader has ended.
type eofReader struct {
	r       io.ReadCloser
	eof     chan struct{}
	release chan struct{}
	fl      *flight
	once    sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.fl.in.feed(p[:n], e.fl.received)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
		if n == 0 {
			<-e.release
		}
	}
	return n, err
}

func (e *eofReader) Close() error { return e.r.Close() }

// answerWait bounds the wait at shutdown for the answers of requests
// already handled.
const answerWait = 30 * time.Second

// answerWriter passes the SDK's output through, telling fl which requests
// it answers and written (the server's answers) that a write ended.
type answerWriter struct {
	w       io.WriteCloser
	fl      *flight
	written func()
}

func (a *answerWriter) Write(p []byte) (int, error) {
	n, err := a.w.Write(p)
	a.fl.out.feed(p[:n], a.fl.sent)
	a.written()
	return n, err
}

func (a *answerWriter) Close() error { return a.w.Close() }

// flight holds the IDs of the client's requests that have no answer
// written yet, as seen on the stream itself (one JSON-RPC message a line):
// what the SDK has still to write before the session may close.
type flight struct {
	mu      sync.Mutex
	open    map[string]bool
	changed chan struct{} // closed and replaced on every answer
	in, out lines
}

func newFlight() *flight {
	return &flight{open: map[string]bool{}, changed: make(chan struct{})}
}

// message is what flight reads of a message: a request has a method and
// an ID, an answer an ID only; a cancellation names the request it
// cancels, which may then go unanswered.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

// received notes a line read from the client.
func (f *flight) received(line []byte) {
	var m message
	if json.Unmarshal(line, &m) != nil {
		return // the SDK answers it with a parse error, or not at all
	}
	switch {
	case m.Method == "notifications/cancelled":
		f.answered(m.Params.RequestID)
	case m.Method != "" && len(m.ID) > 0:
		if id, ok := idKey(m.ID); ok {
			f.mu.Lock()
			f.open[id] = true
			f.mu.Unlock()
		}
	}
}

// sent notes a line written to the client.
func (f *flight) sent(line []byte) {
	var m message
	if json.Unmarshal(line, &m) == nil && m.Method == "" {
		f.answered(m.ID)
	}
}

func (f *flight) answered(raw json.RawMessage) {
	id, ok := idKey(raw)
	if !ok {
		return
	}
	f.mu.Lock()
	if f.open[id] {
		delete(f.open, id)
		close(f.changed)
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
}

// waitAnswered waits until every request read has its answer written, for
// at most limit or until ctx ends.
func (f *flight) waitAnswered(ctx context.Context, limit time.Duration) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		n, changed := len(f.open), f.changed
		f.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// idKey is a request ID in one spelling whatever the client's (1 and 1.0,
// "a" and "\u0061" are the same ID).
func idKey(raw json.RawMessage) (string, bool) {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v == nil {
		return "", false
	}
	b, err := json.Marshal(v)
	return string(b), err == nil
}

// lines cuts a stream into its lines for one reader of it (the stdio
// transport's messages are one a line). A partial line is kept until the
// rest comes; the SDK keeps as much itself.
type lines struct {
	mu      sync.Mutex
	partial []byte
}

func (l *lines) feed(p []byte, line func([]byte)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			return
		}
		if len(l.partial) > 0 {
			l.partial = append(l.partial, p[:i]...)
			line(l.partial)
			l.partial = l.partial[:0]
		} else {
			line(p[:i])
		}
		p = p[i+1:]
	}
}
