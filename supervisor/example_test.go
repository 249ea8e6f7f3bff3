package supervisor_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// Run a module with one argument and nothing granted.
func ExampleSupervisor_Invoke() {
	home, _ := os.MkdirTemp("", "agent-ctl-example")
	defer os.RemoveAll(home)
	s, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		panic(err)
	}
	res, err := s.Invoke(context.Background(), &supervisor.Call{
		Module: fixtures.Path("hello.wasm"),
		Args:   []string{"example"},
		Policy: policies.Policy{Isolation: policies.IsolationProcess},
		Stdout: os.Stdout,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("exit code:", supervisor.ExitCode(res, nil))
	// Output:
	// hello, example
	// exit code: 0
}

// A module that runs past its time limit is stopped and reported.
func ExampleResult_Describe() {
	home, _ := os.MkdirTemp("", "agent-ctl-example")
	defer os.RemoveAll(home)
	// The trap's location comes from the worker's report; a worker on a
	// loaded machine may take longer than the default 250 ms grace to
	// send it, and is then killed without one.
	s, _ := supervisor.New(&supervisor.Options{Home: home, Grace: time.Minute})
	res, err := s.Invoke(context.Background(), &supervisor.Call{
		Module: fixtures.Path("loop.wasm"),
		Policy: policies.Policy{Isolation: policies.IsolationProcess, Timeout: 100_000_000},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Outcome, supervisor.ExitCode(res, nil))
	fmt.Println(res.Describe())
	// Output:
	// timed out 124
	// loop.wasm: time limit of 100ms reached; the module was stopped (raise it with --timeout)
	//     at _start @ 0x31
}
