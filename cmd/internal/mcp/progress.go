package mcp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// progress sends progress notifications while a call runs, if the client
// asked for them: when the module writes output (at most every
// minProgressGap) and every Options.Progress when it is quiet. The
// progress value is the seconds elapsed, so it always increases; the
// message counts the output lines. It returns the writer to tee the
// module's stdout into and the func that stops the notifications.
func (s *Server) progress(ctx context.Context, req *mcp.CallToolRequest) (io.Writer, func()) {
	token := req.Params.GetProgressToken()
	if token == nil || req.Session == nil {
		return io.Discard, func() {}
	}
	lines := &lineCounter{wake: make(chan struct{}, 1)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		var last time.Time
		t := time.NewTicker(s.opts.Progress)
		defer t.Stop()
		for first := true; ; first = false {
			// The first notification says at once that the call started.
			if !first {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-t.C:
				case <-lines.wake:
					if time.Since(last) < minProgressGap {
						continue
					}
				}
			}
			last = time.Now()
			el := time.Since(start)
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token,
				Progress:      el.Seconds(),
				Message:       fmt.Sprintf("running for %.1fs, %d lines of output", el.Seconds(), lines.count()),
			})
		}
	}()
	return lines, func() { close(done); wg.Wait() }
}

// logLines sends each line a module writes to stderr to the client as a
// notifications/message at level info (only to a client that set a log
// level: the SDK drops them otherwise), bounded per call.
type logLines struct {
	ctx     context.Context
	session *mcp.ServerSession
	logger  string
	mu      sync.Mutex
	partial []byte
	sent    int
}

const (
	maxLogLine  = 1 << 10
	maxLogLines = 1000
)

func (l *logLines) Write(p []byte) (int, error) {
	if l.session == nil {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			if len(l.partial) > maxLogLine { // a line too long to wait for
				l.send(l.partial)
				l.partial = l.partial[:0]
			}
			return len(p), nil
		}
		l.send(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
}

func (l *logLines) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.send(l.partial)
		l.partial = nil
	}
}

func (l *logLines) send(line []byte) {
	if l.sent >= maxLogLines || l.session == nil {
		return
	}
	l.sent++
	text := sanitize(line)
	if len(text) > maxLogLine {
		text = text[:maxLogLine] + "…"
	}
	//lint:ignore SA1019 logging is deprecated from protocol 2026-07-28; see New
	_ = l.session.Log(l.ctx, &mcp.LoggingMessageParams{Level: "info", Logger: l.logger, Data: text})
}

// minProgressGap spaces out progress notifications driven by output.
const minProgressGap = 100 * time.Millisecond

// lineCounter counts the lines written to it and wakes the notifier.
type lineCounter struct {
	n    atomic.Int64
	wake chan struct{}
}

func (l *lineCounter) Write(p []byte) (int, error) {
	if c := bytes.Count(p, []byte{'\n'}); c > 0 {
		l.n.Add(int64(c))
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (l *lineCounter) count() int64 { return l.n.Load() }
