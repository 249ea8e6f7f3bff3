package mcp

import (
	"context"
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
	qw := &quietWriter{w: w, written: s.answers.written}
	s.answers.watch(true)
	defer s.answers.watch(false)
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- s.srv.Run(runCtx, &mcp.IOTransport{Reader: &eofReader{r: r, eof: eof, release: release}, Writer: qw})
	}()
	var err error
	select {
	case <-ctx.Done():
	case <-eof:
	case err = <-errc:
		errc <- err
	}
	// The session stays open until the calls have answered; only then is
	// it closed.
	s.Shutdown(grace)
	// The SDK writes no answer once its reader has ended or its session is
	// closing, and it writes a call's answer just after the call returns:
	// the answers are out when the writer has been quiet for a moment.
	qw.waitQuiet(200*time.Millisecond, 5*time.Second)
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
	once    sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
		if n == 0 {
			<-e.release
		}
	}
	return n, err
}

func (e *eofReader) Close() error { return e.r.Close() }

// quietWriter tells when nothing has been written for a while, and
// reports each write's end to written (nil: none).
type quietWriter struct {
	w       io.WriteCloser
	written func()
	mu      sync.Mutex
	writing int
	last    time.Time
}

func (q *quietWriter) Write(p []byte) (int, error) {
	q.mu.Lock()
	q.writing++
	q.mu.Unlock()
	n, err := q.w.Write(p)
	q.mu.Lock()
	q.writing--
	q.last = time.Now()
	q.mu.Unlock()
	if q.written != nil {
		q.written()
	}
	return n, err
}

func (q *quietWriter) Close() error { return q.w.Close() }

// waitQuiet waits until no write is in progress and none ended in the last
// quiet, for at most limit.
func (q *quietWriter) waitQuiet(quiet, limit time.Duration) {
	start := time.Now()
	for time.Since(start) < limit {
		q.mu.Lock()
		busy := q.writing > 0 || time.Since(q.last) < quiet
		q.mu.Unlock()
		if !busy && time.Since(start) >= quiet {
			return
		}
		time.Sleep(quiet / 10)
	}
}
