//go:build linux && cgo

package supervisor_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/worker"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// walls are the three ways a worker is started; the call channel's end
// must reach the worker through each.
var walls = []struct {
	name   string
	iso    policies.Isolation
	engine string
}{
	{"process", policies.IsolationProcess, ""},
	{"jail", policies.IsolationContainer, isolation.EngineJail},
	{"libcontainer", policies.IsolationContainer, isolation.EngineLibcontainer},
}

// TestChannel_walls runs calls whose arguments and results cross the call
// channel (argv, environment, exit status, trap and frames) behind each
// wall, and over the RPC the channel replaced.
func TestChannel_walls(t *testing.T) {
	for _, w := range walls {
		for _, overRPC := range []bool{false, true} {
			name := w.name + "/channel"
			if overRPC {
				name = w.name + "/rpc"
			}
			t.Run(name, func(t *testing.T) {
				s, err := supervisor.New(&supervisor.Options{Home: t.TempDir(), Container: &isolation.ContainerOptions{Engine: w.engine}})
				if err != nil {
					t.Fatal(err)
				}
				if overRPC {
					s.RunOverRPC()
				}
				ts := &testSupervisor{s, w.iso}
				res, out, _, err := invoke(t, ts, supervisor.Call{Module: "hello.wasm", Args: []string{"channel"}})
				if err != nil || out != "hello, channel\n" || res.ExitCode != 0 || res.Outcome != supervisor.Exited {
					t.Fatalf("hello: %v, %q, %+v", err, out, res)
				}
				res, out, _, err = invoke(t, ts, supervisor.Call{Module: "env.wasm",
					Policy: policies.Policy{Env: []policies.Env{{Key: "CHANNEL_TEST", Value: "ünï=code"}}}})
				if err != nil || !strings.Contains(out, "CHANNEL_TEST=ünï=code") || res.ExitCode != 0 {
					t.Fatalf("env: %v, %q, %+v", err, out, res)
				}
				res, _, _, err = invoke(t, ts, supervisor.Call{Module: "exit.wasm", Args: []string{"42"}})
				if err != nil || res.ExitCode != 42 {
					t.Fatalf("exit 42: %v, %+v", err, res)
				}
				res, _, _, err = invoke(t, ts, supervisor.Call{Module: "trap.wasm"})
				if err != nil || res.Outcome != supervisor.Trapped || res.Trap != "unreachable" ||
					len(res.Frames) < 3 || !strings.HasPrefix(res.Frames[0], "inner") {
					t.Fatalf("trap: %v, %+v", err, res)
				}
				if res.Timings.Run <= 0 {
					t.Errorf("run time %v not reported", res.Timings.Run)
				}
			})
		}
	}
}

// hostileArg makes the test binary a worker that writes hostileReplies[mode]
// on its call channel once prepared, ahead of any honest reply: what a
// worker taken over by its module could write.
const hostileArg = "__hostile-channel"

var hostileReplies = map[string][]byte{
	"huge":     {0xff, 0xff, 0xff, 0xff},
	"version":  {2, 0, 0, 0, 7, 2},
	"outcome":  hostileFrame(9, ""),
	"utf8":     hostileFrame(0, "\xff\xfe"),
	"leftover": hostileFrame(0, "", 0xaa),
	"stall":    {0xe8, 3, 0, 0, 1, 2, 0}, // 1000 bytes announced, a few sent
}

// hostileFrame is a Result frame of the current layout, but for its
// outcome, trap text and extra bytes at the end.
func hostileFrame(outcome byte, trap string, extra ...byte) []byte {
	body := append([]byte{1, 2, outcome}, make([]byte, 4+8+8+8)...)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(trap)))
	body = append(body, trap...)
	body = append(body, 0, 0, 0, 0, 0, 0, 0, 0, 0) // no message, no frames, no error
	body = append(body, extra...)
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// hostileWorker serves as such a worker when args ask for one.
func hostileWorker(args []string) (int, bool) {
	if !protocol.IsWorker(args) || len(args) < 4 || args[2] != hostileArg {
		return 0, false
	}
	os.Stdin.Close()
	protocol.Serve(hostile{&worker.Host{CloseStdio: true}, hostileReplies[args[3]]})
	return 0, true
}

type hostile struct {
	*worker.Host
	reply []byte
}

func (h hostile) Prepare(req *protocol.Request) (*protocol.Prepared, error) {
	p, err := h.Host.Prepare(req)
	if err == nil && req.CallFD > 0 {
		_, _ = syscall.Write(req.CallFD, h.reply)
		// A copy that outlives the honest reply, so that the
		// supervisor waits for the rest of the frame until it is
		// killed.
		_, _ = syscall.Dup(req.CallFD)
	}
	return p, err
}

// TestChannel_hostileWorker: whatever a worker writes on its call channel,
// the supervisor ends the call with an error that says what was wrong (or,
// for a reply that never ends, at the time limit), and goes on serving.
func TestChannel_hostileWorker(t *testing.T) {
	for _, w := range walls {
		t.Run(w.name, func(t *testing.T) {
			for _, tc := range []struct{ mode, want string }{
				{"huge", "reading the worker's reply: malformed frame: frame of 4294967295 bytes"},
				{"version", "malformed frame: version 7, not 1"},
				{"outcome", "malformed frame: unknown outcome 9"},
				{"utf8", "is not UTF-8"},
				{"leftover", "malformed frame: 1 bytes left over"},
				{"stall", ""},
			} {
				t.Run(tc.mode, func(t *testing.T) {
					s, err := supervisor.New(&supervisor.Options{Home: t.TempDir(), Grace: 100 * time.Millisecond,
						WorkerArgs: []string{protocol.WorkerArg, hostileArg, tc.mode}, Container: &isolation.ContainerOptions{Engine: w.engine}})
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					res, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"),
						Policy: policies.Policy{Isolation: w.iso, Timeout: time.Second}})
					if tc.want == "" {
						if err != nil || res.Outcome != supervisor.TimedOut {
							t.Fatalf("a reply that never ends: %v, %+v; want the time limit", err, res)
						}
						return
					}
					if err == nil || !errors.Is(err, supervisor.ErrWorker) || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("Invoke: %v, %+v; want an ErrWorker saying %q", err, res, tc.want)
					}
				})
			}
		})
	}
	// And the process that met them still serves calls.
	s := newSupervisor(t, policies.IsolationProcess)
	if _, out, _, err := invoke(t, s, supervisor.Call{Module: "hello.wasm"}); err != nil || out != "hello, world\n" {
		t.Fatalf("a call after the hostile workers: %v, %q", err, out)
	}
}
