//go:build unix

package mcp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestStdio_refillAfterAnswer: over stdio, the pool's replacement for a
// call's worker is not started while the call's answer is still being
// written to the client: here the client does not read its answer for
// RefillHold/2, and no worker starts meanwhile; once it reads, the pool is
// refilled. Before Call.Answered, the replacement started as the call
// returned from its worker and had started within that time.
func TestStdio_refillAfterAnswer(t *testing.T) {
	e := setup(t)
	e.closeSup()
	sup, err := supervisor.New(&supervisor.Options{Home: e.home, Pool: &supervisor.PoolOptions{PerTool: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	srv := agentmcp.New(e.cat, sup, &agentmcp.Options{Version: "test", Poll: 50 * time.Millisecond})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe() // unbuffered: the server's write waits for the test's read
	done := make(chan error, 1)
	go func() { done <- srv.RunStdio(context.Background(), inR, outW, 5*time.Second); outW.Close() }()
	t.Cleanup(func() {
		inW.Close()
		go io.Copy(io.Discard, outR)
		if err := <-done; err != nil {
			t.Errorf("RunStdio: %v", err)
		}
	})
	out := bufio.NewReader(outR)
	read := func() string {
		t.Helper()
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the server's answer: %v", err)
		}
		return l
	}
	fmt.Fprintln(inW, initBody)
	read()
	fmt.Fprintln(inW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	call := func(id int) {
		go fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"hello","arguments":{"name":"pool"}}}`+"\n", id)
	}
	refilled := func(want uint64) {
		t.Helper()
		if !testutil.Poll(30*time.Second, func() bool {
			idle, pending := sup.PoolStats()
			started, _ := sup.WorkerStarts()
			return idle == 1 && pending == 0 && started == want
		}) {
			idle, pending := sup.PoolStats()
			started, _ := sup.WorkerStarts()
			t.Fatalf("pool holds %d idle, %d pending after %d worker starts; want 1 idle after %d", idle, pending, started, want)
		}
	}
	// The first call starts its own worker; the pool's follows its answer.
	call(2)
	if l := read(); !strings.Contains(l, "hello, pool") {
		t.Fatalf("first call: %s", l)
	}
	refilled(2)

	call(3)
	// The call is over (Invoke returned) and its answer waits for the
	// test to read it.
	if !testutil.Poll(30*time.Second, func() bool {
		idle, _ := sup.PoolStats()
		return idle == 0 && sup.InFlight() == 0
	}) {
		t.Fatal("the second call did not take the prepared worker")
	}
	returned := time.Now()
	time.Sleep(supervisor.RefillHold / 2) // what a start takes many times over
	started, _ := sup.WorkerStarts()
	if held := time.Since(returned); started != 2 && held < supervisor.RefillHold {
		t.Fatalf("%d workers started while the answer was unread (%s)", started-2, held)
	}
	if l := read(); !strings.Contains(l, "hello, pool") {
		t.Fatalf("second call: %s", l)
	}
	refilled(3)
}
