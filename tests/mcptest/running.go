package mcptest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Running tells when calls' modules run: a call that carries a progress
// token gets notifications whose message counts the module's lines of
// output, and a count above 0 means its worker has started and its module
// has written. Shutdown tests wait on it, not on a worker's pid or a fixed
// sleep: on a loaded machine a worker can still be starting when those
// are past, and a grace then runs out before a short call has begun.
type Running struct{ ch chan string }

// NewRunning returns a Running to pass, as Handler, to the client.
func NewRunning() *Running { return &Running{ch: make(chan string, 256)} }

// Handler is the client's ProgressNotificationHandler.
func (r *Running) Handler(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	if !strings.HasSuffix(req.Params.Message, " 0 lines of output") {
		select {
		case r.ch <- fmt.Sprint(req.Params.ProgressToken):
		default: // one per token is enough
		}
	}
}

// Wait waits until the module of each call named by its progress token
// runs, or the call has ended (its channel in calls closed; nil for a call
// that cannot end first). It fails t after 2 minutes, a bound against a
// hang, not a timing.
func (r *Running) Wait(t testing.TB, calls map[string]<-chan struct{}) {
	t.Helper()
	seen := map[string]bool{}
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	timeout := time.After(2 * time.Minute)
	for {
		left := 0
		for tok, done := range calls {
			if !seen[tok] && done != nil {
				select {
				case <-done:
					seen[tok] = true
				default:
				}
			}
			if !seen[tok] {
				left++
			}
		}
		if left == 0 {
			return
		}
		select {
		case tok := <-r.ch:
			seen[tok] = true
		case <-poll.C:
		case <-timeout:
			t.Fatalf("the calls' modules did not all run within 2 minutes (running: %v)", seen)
		}
	}
}
