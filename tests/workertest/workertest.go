// Package workertest lets a test binary serve as agent-ctl's worker
// executable, as agent-ctl's main does: libcontainer's re-executed init
// first, then the hidden worker mode, else the tests.
package workertest

import (
	"os"
	"testing"

	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/worker"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// Main is a TestMain body: the supervisor re-executes the test binary as
// the worker (and libcontainer as its init), which must be caught before
// the tests run.
func Main(m *testing.M) {
	isolation.Init()
	if protocol.IsWorker(os.Args) {
		os.Exit(worker.Main())
	}
	os.Exit(m.Run())
}
